"""Private PostgreSQL, Redis and RabbitMQ servers that the chaos harness may stop, crash, pause and restart.

Each listens on 127.0.0.1 on a free port, keeps its files in the run's directory and, for PostgreSQL and
RabbitMQ, runs as the system user its package installed (both refuse, or are not meant, to run as root). None of
them touches the machine's shared servers: RabbitMQ's node has its own name, ports, data and (no) plugins.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from bench.procs import descendants
from tests.support import free_port, redis_server_command


def _wait_port(port: int, timeout: float, what: str, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited while starting (code {process.returncode})")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout:.0f}s")


def _signal_all(pids: list[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def _paused(pids: list[int], seconds: float) -> None:
    """The processes stopped (SIGSTOP) for `seconds`: to their clients, a network that stopped answering."""
    _signal_all(pids, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        _signal_all(pids, signal.SIGCONT)


def _owned_by(path: Path, user: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    shutil.chown(path, user, user)
    return path


class PrivatePostgres:
    """A cluster of its own (initdb), started and stopped with pg_ctl as the `postgres` user."""

    def __init__(self, directory: Path):
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))[-1])
        self.directory = _owned_by(directory, "postgres")
        self.data = self.directory / "data"
        self.port = free_port()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            user="postgres",
            cwd=self.directory,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
        )

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "smartcompute")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c max_connections=300 "
            "-c shared_buffers=64MB"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.directory / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "120",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and a checkpoint written; `immediate`: a crash, with recovery at start."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "120", "stop")

    def pids(self) -> list[int]:
        try:
            postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            return []
        return [postmaster, *descendants(postmaster)]

    def pause(self, seconds: float) -> None:
        _paused(self.pids(), seconds)

    def close(self) -> None:
        if self.pids():
            self.stop("immediate")


class PrivateRedis:
    """redis-server on a port of its own, with no persistence (the API's rate limits live here)."""

    def __init__(self, directory: Path):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with open(self.directory / "redis.log", "ab") as log:
            self.process = subprocess.Popen(
                redis_server_command(self.directory, "--port", str(self.port)),
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _wait_port(self.port, 30, "Redis", self.process)

    def stop(self, signum: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)
            self.process.wait(30)

    def close(self) -> None:
        self.stop(signal.SIGKILL)


class PrivateRabbitMQ:
    """A RabbitMQ node of its own (`smartcompute-chaos-<port>@localhost`), run as the `rabbitmq` user, with its
    own ports, data and log directories and no plugins (so nothing else listens), sharing only epmd."""

    def __init__(self, directory: Path):
        self.directory = _owned_by(directory, "rabbitmq")
        self.port, self.dist_port = free_port(), free_port()
        self.node = f"smartcompute-chaos-{self.port}@localhost"
        (self.directory / "enabled_plugins").write_text("[].\n")
        self.process: subprocess.Popen | None = None
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": "/var/lib/rabbitmq",
            "LANG": "C.UTF-8",
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.directory / "beam.pid"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.directory / "advanced.config"),
        }

    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        with open(self.directory / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                ["/usr/lib/rabbitmq/bin/rabbitmq-server"],
                env=self.env,
                user="rabbitmq",
                group="rabbitmq",
                cwd=self.directory,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        _wait_port(self.port, 120, "RabbitMQ", self.process)

    def ctl(self, *args: str, timeout: float = 60) -> str:
        return subprocess.run(
            ["/usr/lib/rabbitmq/bin/rabbitmqctl", "-n", self.node, "-q", *args],
            env=self.env,
            user="rabbitmq",
            cwd=self.directory,
            capture_output=True,
            text=True,
            check=True,
            timeout=timeout,
        ).stdout

    def stop(self) -> None:
        """A clean stop: messages on disk stay, connections are closed."""
        self.ctl("stop")
        self.process.wait(60)

    def beam_pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *descendants(self.process.pid)]

    def kill(self) -> None:
        """kill -9 of the whole node: what it had not written to disk is gone."""
        _signal_all(self.beam_pids(), signal.SIGKILL)
        self.process.wait(30)

    def pause(self, seconds: float) -> None:
        _paused(self.beam_pids(), seconds)

    def disk_alarm(self, seconds: float) -> None:
        """What a full disk does to RabbitMQ: its free-disk alarm blocks every publisher until it clears. Raised
        by asking for more free space than the disk has, so no real disk fills."""
        self.ctl("set_disk_free_limit", "100000GB")
        try:
            time.sleep(seconds)
        finally:
            self.ctl("set_disk_free_limit", "50MB")

    def queue_depths(self) -> dict[str, tuple[int, int]]:
        """Each queue's (ready, unacknowledged) messages."""
        lines = self.ctl("list_queues", "name", "messages_ready", "messages_unacknowledged").splitlines()
        depths = {}
        for line in lines:
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                depths[parts[0]] = (int(parts[1]), int(parts[2]))
        return depths

    def close(self) -> None:
        if self.beam_pids():
            self.kill()
