"""Real hosts on one machine: Linux network namespaces joined by a router namespace whose nftables rules keep the
deployment's zones apart (docs/deploying.md), and the services of a deployment started on them.

    data      PostgreSQL and Redis (the broker)      internal
    secrets   OpenBao (the secret store)             isolated
    api       the API (gunicorn)                     api
    edge      where clients come from                public
    payments  the payment worker                     isolated
    core-N    a core worker                          internal

Each host has one interface to the router; the router forwards only what the zones allow and refuses the rest
(ICMP administratively prohibited, so a refused connection fails at once with EHOSTUNREACH). The namespaces,
their links and rules live and die with the context; their names carry a random run id.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Iterator

from tests.support import REPO, stop_process_group, wait_until

BIN = Path(sys.executable).parent
FIXED_HOSTS = {"data": 1, "secrets": 2, "api": 3, "edge": 4, "payments": 5}
CORE_HOST_BASE = 10
PORTS = {"postgres": 5432, "redis": 6379, "bao": 8200, "api": 8000}


def available() -> str | None:
    """Why the hosts cannot be built here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft", "initdb", "redis-server"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/run installs it)"
    return None


@dataclass
class Hosts:
    run_id: str
    subnet: int
    core_count: int
    directory: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def namespace(self, host: str) -> str:
        return f"sc{self.run_id}-{host}"

    def address(self, host: str) -> str:
        number = FIXED_HOSTS.get(host) or CORE_HOST_BASE + int(host.split("-")[1])
        return f"10.{self.subnet}.{number}.2"

    @property
    def core_hosts(self) -> list[str]:
        return [f"core-{index}" for index in range(1, self.core_count + 1)]

    def run(self, host: str, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.namespace(host), *args], **kwargs)

    def start(self, name: str, host: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """A long-running process on `host`, logging to <directory>/<name>.log; stopped with the hosts."""
        with open(self.directory / f"{name}.log", "wb") as log:
            process = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace(host), *args],
                cwd=REPO,
                env={**os.environ, **(env or {})},
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def pids(self, host: str) -> list[int]:
        """Every process running in the host's namespace."""
        listed = subprocess.run(["ip", "netns", "pids", self.namespace(host)], capture_output=True, text=True)
        return [int(pid) for pid in listed.stdout.split()]

    def connect_error(self, source: str, target: str, port: int) -> str:
        """Try a TCP connection from `source` to `target`: "connected", or the error's name (EHOSTUNREACH...)."""
        probe = textwrap.dedent(f"""
            import errno, socket
            try:
                socket.create_connection(("{self.address(target)}", {port}), timeout=3).close()
                print("connected")
            except OSError as error:
                print(errno.errorcode.get(error.errno, type(error).__name__))
        """)
        return self.run(
            source, [sys.executable, "-c", probe], capture_output=True, text=True, timeout=20
        ).stdout.strip()


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _zone_rules(hosts: Hosts) -> str:
    address = hosts.address
    cores = ", ".join(address(host) for host in hosts.core_hosts)
    data_ports = f"{{ {PORTS['postgres']}, {PORTS['redis']} }}"
    return textwrap.dedent(f"""
        table inet smartcompute_zones {{
            chain forward {{
                type filter hook forward priority 0; policy drop;
                ct state established,related accept
                ip saddr {address("edge")} ip daddr {address("api")} tcp dport {PORTS["api"]} accept
                ip saddr {address("api")} ip daddr {address("data")} tcp dport {data_ports} accept
                ip saddr {address("api")} ip daddr {address("secrets")} tcp dport {PORTS["bao"]} accept
                ip saddr {{ {cores} }} ip daddr {address("data")} tcp dport {data_ports} accept
                ip saddr {address("payments")} ip daddr {address("data")} tcp dport {data_ports} accept
                ip saddr {address("payments")} ip daddr {address("secrets")} tcp dport {PORTS["bao"]} accept
                reject with icmpx type admin-prohibited
            }}
        }}
    """)


@contextmanager
def network(core_count: int) -> Iterator[Hosts]:
    """The namespaces, links and zone rules; everything is removed at the end."""
    reason = available()
    if reason:
        raise RuntimeError(reason)
    directory = Path(tempfile.mkdtemp(prefix="smartcompute-hosts-"))
    directory.chmod(0o755)
    hosts = Hosts(secrets.token_hex(2), 100 + secrets.randbelow(100), core_count, directory)
    names = [*FIXED_HOSTS, *hosts.core_hosts]
    router = hosts.namespace("router")
    made: list[str] = []
    try:
        for namespace in [router, *(hosts.namespace(name) for name in names)]:
            _ip("netns", "add", namespace)
            made.append(namespace)
            _ip("-n", namespace, "link", "set", "lo", "up")
        for index, name in enumerate(names, start=1):
            number = hosts.address(name).split(".")[2]
            _ip(
                "link",
                "add",
                "eth0",
                "netns",
                hosts.namespace(name),
                "type",
                "veth",
                "peer",
                "name",
                f"to-{index}",
                "netns",
                router,
            )
            _ip("-n", hosts.namespace(name), "addr", "add", f"{hosts.address(name)}/24", "dev", "eth0")
            _ip("-n", hosts.namespace(name), "link", "set", "eth0", "up")
            _ip("-n", hosts.namespace(name), "route", "add", "default", "via", f"10.{hosts.subnet}.{number}.1")
            _ip("-n", router, "addr", "add", f"10.{hosts.subnet}.{number}.1/24", "dev", f"to-{index}")
            _ip("-n", router, "link", "set", f"to-{index}", "up")
        subprocess.run(["ip", "netns", "exec", router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], check=True)
        subprocess.run(
            ["ip", "netns", "exec", router, "nft", "-f", "-"], input=_zone_rules(hosts), text=True, check=True
        )
        yield hosts
    finally:
        for process in hosts.processes.values():
            stop_process_group(process, grace=20)
        for namespace in made:
            for pid in subprocess.run(
                ["ip", "netns", "pids", namespace], capture_output=True, text=True
            ).stdout.split():
                try:  # anything still running there was started by these hosts
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        shutil.rmtree(directory, ignore_errors=True)


# --- the services of a deployment on those hosts -------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    hosts: Hosts
    env: dict[str, str]  # what every SmartCompute process on the hosts is given
    local_database_url: str  # the same database, through its unix socket, for the test itself

    @property
    def api_url(self) -> str:
        return f"http://{self.hosts.address('api')}:{PORTS['api']}"

    def start_core_worker(self, host: str, *, concurrency: int = 1) -> subprocess.Popen:
        process = self.hosts.start(
            host,
            host,
            [
                str(BIN / "celery"),
                "-A",
                "workers",
                "worker",
                "-Q",
                "core-analysis",
                "--hostname",
                f"{host}@%h",
                "--concurrency",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "-P",
                "prefork",
            ],
            self.env,
        )
        wait_until(lambda: " ready." in self.hosts.log(host) or process.poll() is not None, 60, f"{host} to start")
        assert process.poll() is None, self.hosts.log(host)[-3000:]
        return process

    def submit(self, api_key: str, count: int, *, clients: int = 8, points: int = 200) -> dict:
        """POST `count` jobs from the edge host: {"ids": [...], "seconds": ..., "errors": {...}}."""
        import json

        finished = self.hosts.run(
            "edge",
            [sys.executable, "-m", "tests.submit_jobs", self.api_url, api_key, str(count), str(clients), str(points)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=REPO,
        )
        assert finished.returncode == 0, finished.stderr[-3000:]
        return json.loads(finished.stdout)


def _initdb(directory: Path) -> None:
    shutil.chown(directory, "postgres", "postgres")
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "initdb",
            "-D",
            str(directory),
            "--auth=trust",
            "--username=postgres",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    with open(directory / "pg_hba.conf", "a") as rules:
        rules.write("host all all 0.0.0.0/0 trust\n")  # reachable only from the hosts the zone rules let in


@contextmanager
def deployment(hosts: Hosts, settings: dict[str, str]) -> Iterator[Deployment]:
    """PostgreSQL and Redis on `data`, OpenBao on `secrets`, the API on `api`, the payment worker on `payments`,
    migrated and ready; core workers are started by the caller (start_core_worker)."""
    from tests.support import migrate

    data, database = hosts.address("data"), hosts.directory / "postgres"
    database.mkdir()
    _initdb(database)
    postgres = hosts.start(
        "postgres",
        "data",
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            "postgres",
            "-D",
            str(database),
            "-c",
            f"listen_addresses={data}",
            "-c",
            f"unix_socket_directories={database}",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=200",
        ],
    )
    local_url = f"postgresql://postgres@/postgres?host={database}"
    wait_until(lambda: postgres.poll() is not None or (database / ".s.PGSQL.5432").exists(), 60, "PostgreSQL")
    assert postgres.poll() is None, hosts.log("postgres")
    # No password: the zone rules decide who reaches it, so Redis's protected mode (loopback only) is off.
    hosts.start(
        "redis",
        "data",
        [
            "redis-server",
            "--bind",
            data,
            "--port",
            str(PORTS["redis"]),
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(hosts.directory),
        ],
    )
    hosts.start(
        "openbao",
        "secrets",
        [
            str(BIN / "bao"),
            "server",
            "-dev",
            f"-dev-root-token-id={secrets.token_hex(8)}",
            f"-dev-listen-address={hosts.address('secrets')}:{PORTS['bao']}",
        ],
    )
    wait_until(lambda: hosts.connect_error("api", "data", PORTS["redis"]) == "connected", 30, "Redis")
    migrate(local_url, "head")
    env = {
        **settings,
        "DATABASE_URL": f"postgresql://postgres@{data}:{PORTS['postgres']}/postgres",
        "REDIS_URL": f"redis://{data}:{PORTS['redis']}/0",
    }
    hosts.start(
        "api",
        "api",
        [str(BIN / "gunicorn"), "--config", "python:web.gunicorn_conf", "web:create_app()"],
        {**env, "BIND_ADDRESS": hosts.address("api"), "PORT": str(PORTS["api"]), "WEB_CONCURRENCY": "1"},
    )
    hosts.start(
        "payments",
        "payments",
        [
            str(BIN / "celery"),
            "-A",
            "workers.payment_worker",
            "worker",
            "-Q",
            "payment-webhook",
            "--hostname",
            "payments@%h",
            "--concurrency",
            "1",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
    )
    wait_until(lambda: hosts.connect_error("edge", "api", PORTS["api"]) == "connected", 60, "the API")
    try:
        wait_until(lambda: " ready." in hosts.log("payments"), 60, "the payment worker")
    except AssertionError as error:
        raise AssertionError(f"{error}:\n{hosts.log('payments')[-3000:]}") from None
    yield Deployment(hosts, env, local_url)


def wait_for_jobs(database_url: str, ids: list[str], timeout: float) -> dict[str, str]:
    """Poll PostgreSQL until every job is finished or time runs out: {id: status}."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            with engine.connect() as connection:
                statuses = dict(
                    connection.execute(
                        text("SELECT id::text, status FROM jobs WHERE id::text = ANY(:ids)"), {"ids": ids}
                    ).all()
                )
            if all(statuses.get(job) in {"succeeded", "failed"} for job in ids) or time.monotonic() > deadline:
                return statuses
            time.sleep(0.5)
    finally:
        engine.dispose()
