"""The Procfile is how every environment runs SmartCompute: its entries, and a job driven through them under honcho."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import httpx
import pytest
from honcho.environ import parse_procfile

from tests.conftest import make_account
from tests.support import REPO, free_port, job_body, stop_process_group, wait_until

BIN = Path(sys.executable).parent
PROCESSES = ("web", "worker-core", "worker-payments", "scheduler", "scheduler-payments", "flower")


def procfile() -> dict[str, str]:
    return dict(parse_procfile((REPO / "Procfile").read_text()).processes)


def option(command: str, name: str) -> str | None:
    """The value given to `name` in a Procfile command (`-Q x` or `--address=x`)."""
    words = shlex.split(command)
    for index, word in enumerate(words):
        if word == name and index + 1 < len(words):
            return words[index + 1]
        if word.startswith(f"{name}="):
            return word.partition("=")[2]
    return None


def test_the_procfile_declares_release_web_both_workers_their_schedulers_and_flower():
    entries = procfile()
    assert {"release", *PROCESSES} <= set(entries)
    assert entries["release"] == "alembic upgrade head"
    assert shlex.split(entries["web"])[0] == "gunicorn"
    assert option(entries["web"], "--config") == "python:web.gunicorn_conf"  # binds BIND_ADDRESS:PORT
    assert option(entries["worker-core"], "-Q") == "core-analysis"
    assert option(entries["worker-payments"], "-Q") == "payment-webhook"
    # Each schedule runs in a process of its own, never inside a worker (workers/scheduling.py).
    assert shlex.split(entries["scheduler"]) == ["celery", "-A", "workers", "beat"]
    assert shlex.split(entries["scheduler-payments"]) == ["celery", "-A", "workers.payment_worker", "beat"]
    assert not any(
        "--beat" in shlex.split(entries[worker]) or "-B" in shlex.split(entries[worker])
        for worker in ("worker-core", "worker-payments")
    )
    for worker in ("worker-core", "worker-payments"):  # on a shared host the API's answers come first
        assert shlex.split(entries[worker])[:3] == ["nice", "-n", "${WORKER_NICENESS:-19}"]
    assert shlex.split(entries["flower"])[:4] == ["celery", "-A", "workers", "authenticated-flower"]
    assert option(entries["flower"], "--address") == "${FLOWER_ADDRESS:-127.0.0.1}"  # the platform or nginx exposes it
    assert option(entries["flower"], "--basic-auth").startswith("${FLOWER_BASIC_AUTH:?")  # never without auth


# Flower's own --basic-auth leaves its metrics, health check and static files open; every one must ask.
FLOWER_PATHS = (
    "/",
    "/workers",
    "/tasks",
    "/broker",
    "/api/workers",
    "/api/tasks",
    "/api/queues/length",
    "/metrics",
    "/healthcheck",
    "/static/css/flower.css",
    "/login",
    "/no-such-page",
)


@pytest.fixture
def flower(base_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, tuple[str, str]]]:
    """The Procfile's flower process alone, on a free port of 127.0.0.1."""
    port = free_port()
    env = {**os.environ, **base_env, "FLOWER_PORT": str(port), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("FLOWER_ADDRESS", None)  # the Procfile's default address
    with open(tmp_path / "flower.log", "wb") as log_file:
        process = subprocess.Popen(
            procfile()["flower"],
            shell=True,
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    user, _, password = base_env["FLOWER_BASIC_AUTH"].partition(":")

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthcheck", auth=(user, password), timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(lambda: process.poll() is not None or answers(), 60, "Flower to answer", interval=0.3)
        assert process.poll() is None, (tmp_path / "flower.log").read_text()
        yield url, (user, password)
    finally:
        stop_process_group(process, grace=10)


def test_flower_asks_for_credentials_on_every_path_and_listens_on_loopback_only(flower):
    url, credentials = flower
    for path in FLOWER_PATHS:
        for auth in (None, (credentials[0], "wrong-password"), ("intruder", credentials[1])):
            refused = httpx.get(f"{url}{path}", auth=auth, timeout=10)
            assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == 'Basic realm="flower"', path
        assert httpx.get(f"{url}{path}", auth=credentials, timeout=10).status_code != 401, path
    assert httpx.get(f"{url}/metrics", auth=credentials, timeout=10).text.startswith("#")
    assert _listening_addresses(int(url.rsplit(":", 1)[1])) == {"127.0.0.1"}


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (IPv4 and IPv6), from the kernel's tables."""
    import ipaddress

    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, port_hex = local.partition(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                raw = bytes.fromhex(address)
                # The kernel writes each 32-bit word in host (little-endian) order.
                words = b"".join(raw[index : index + 4][::-1] for index in range(0, len(raw), 4))
                found.add(str(ipaddress.ip_address(words)))
    return found


def test_flower_without_credentials_does_not_start(base_env):
    env = {**os.environ, **base_env, "FLOWER_PORT": str(free_port()), "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("FLOWER_BASIC_AUTH")
    command = shlex.split(procfile()["flower"])[:4] + ["--address=127.0.0.1", f"--port={env['FLOWER_PORT']}"]
    finished = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert finished.returncode != 0
    assert (
        finished.stderr.strip().splitlines()[-1]
        == "Error: FLOWER_BASIC_AUTH: is required (user:password), or --basic-auth"
    )


def test_the_release_step_migrates_with_nothing_but_database_url(database_url):
    """Run as a platform would: the database is already at head, so the step must succeed and change nothing."""
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DATABASE_URL": database_url}
    finished = subprocess.run(
        procfile()["release"], shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 0, finished.stderr


def test_the_release_step_says_in_one_line_that_it_cannot_reach_the_database():
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/smartcompute",
    }
    finished = subprocess.run(
        procfile()["release"], shell=True, cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert finished.returncode != 0
    assert finished.stderr.strip().splitlines()[-1].startswith("Error: cannot reach the database: connection to")
    assert "Traceback" not in finished.stderr


@pytest.mark.parametrize("process", ["release", *PROCESSES])
@pytest.mark.parametrize(
    "bad_url, message",
    [
        (None, "DATABASE_URL: is required but not set"),
        ("mysql://db/smartcompute", "DATABASE_URL: must be a postgresql:// URL"),
    ],
    ids=["missing", "malformed"],
)
def test_a_bad_setting_stops_each_process_with_one_line_naming_it(base_env, process, bad_url, message):
    env = {key: value for key, value in base_env.items() if key != "DATABASE_URL"}
    env.update(
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
        BIND_ADDRESS="127.0.0.1",
        FLOWER_ADDRESS="127.0.0.1",
        **({"DATABASE_URL": bad_url} if bad_url else {}),
    )
    finished = subprocess.run(
        procfile()[process],
        shell=True,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    assert finished.returncode != 0
    assert "Traceback" not in finished.stdout
    assert finished.stdout.strip().splitlines()[-1] == f"Error: {message}"


@dataclass
class Stack:
    process: subprocess.Popen
    log_path: Path
    api: str
    flower: str
    flower_auth: tuple[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.api}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False


def stop_honcho(process: subprocess.Popen, log_path: Path) -> None:
    """SIGTERM honcho's process group: honcho stops each process (each in its own group), then exits."""
    stop_process_group(process, grace=30)
    for pid in re.findall(r"started \(pid=(\d+)\)", log_path.read_text(errors="replace")):
        try:  # a safety net: honcho already stopped them unless it was killed itself
            os.killpg(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def stack(base_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    port, flower_port = free_port(), free_port()
    env = {
        **os.environ,
        **base_env,
        "PORT": str(port),
        "FLOWER_PORT": str(flower_port),
        "BIND_ADDRESS": "127.0.0.1",
        "FLOWER_ADDRESS": "127.0.0.1",
        "WEB_CONCURRENCY": "1",
        "CORE_CONCURRENCY": "1",
        "PAYMENT_CONCURRENCY": "1",
        "PYTHONUNBUFFERED": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    log_path = tmp_path / "honcho.log"
    args = [str(BIN / "honcho"), "start", "-f", str(REPO / "Procfile"), "-d", str(REPO), "-e", os.devnull, *PROCESSES]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            args, cwd=REPO, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    user, _, password = base_env["FLOWER_BASIC_AUTH"].partition(":")
    stack = Stack(process, log_path, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{flower_port}", (user, password))
    try:
        wait_until(lambda: process.poll() is not None or stack.ready(), 60, "the API to be ready", interval=0.3)
        assert process.poll() is None, f"honcho exited:\n{stack.log()[-4000:]}"
        yield stack
    finally:
        stop_honcho(process, log_path)


def flower_workers(stack: Stack) -> list[str]:
    answer = httpx.get(f"{stack.flower}/api/workers", params={"refresh": 1}, auth=stack.flower_auth, timeout=10)
    return sorted(answer.json()) if answer.status_code == 200 else []


def test_a_job_runs_end_to_end_through_the_procfile_processes(stack, sessions):
    def both_workers() -> list[str] | None:
        names = flower_workers(stack)
        return names if {name.partition("@")[0] for name in names} >= {"core", "payments"} else None

    wait_until(both_workers, 45, "Flower to list the core and payments workers", interval=0.5)
    assert httpx.get(f"{stack.flower}/api/workers", timeout=5).status_code == 401

    account = make_account(sessions)
    submitted = httpx.post(f"{stack.api}/v1/jobs", json=job_body(), headers=account.headers, timeout=10)
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    def finished() -> dict | None:
        job = httpx.get(f"{stack.api}/v1/jobs/{job_id}", headers=account.headers, timeout=5).json()
        return job if job["status"] in {"succeeded", "failed", "cancelled"} else None

    job = wait_until(finished, 60, f"job {job_id} to finish", interval=0.3)
    assert job["status"] == "succeeded", job
    assert job["result"]

    def task_in_flower() -> dict | None:
        task = httpx.get(f"{stack.flower}/api/task/info/{job_id}", auth=stack.flower_auth, timeout=5)
        return task.json() if task.status_code == 200 and task.json().get("state") == "SUCCESS" else None

    task = wait_until(task_in_flower, 15, "Flower to show the job's task", interval=0.3)
    assert task["worker"].startswith("core@")
    assert_workers_yield_the_cpu_to_the_api(stack)
    assert_sigterm_stops_everything(stack)  # what a platform (or Ctrl-C via bin/dev) does at the end


def assert_workers_yield_the_cpu_to_the_api(stack: Stack) -> None:
    """Each process runs in a session of its own; the workers' sessions carry their niceness (workers/priority.py)."""
    if not Path("/proc/self/autogroup").exists():
        return  # without autogroup, the niceness `nice` gives the workers already ranks them below the API
    sessions = dict(re.findall(r"(\S+)\.1 started \(pid=(\d+)\)", stack.log()))
    niceness = {name: Path(f"/proc/{sessions[name]}/autogroup").read_text().split()[-1] for name in PROCESSES}
    assert niceness == {
        "web": "0",
        "worker-core": "19",
        "worker-payments": "19",
        "scheduler": "0",
        "scheduler-payments": "0",
        "flower": "0",
    }


def assert_sigterm_stops_everything(stack: Stack) -> None:
    started = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", stack.log())]
    assert len(started) == len(PROCESSES)
    os.killpg(stack.process.pid, signal.SIGTERM)
    stack.process.wait(30)
    deadline = time.monotonic() + 10
    alive = started
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _group_alive(pid)]
        time.sleep(0.2)
    assert not alive, f"still running: {alive}\n{stack.log()[-3000:]}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
