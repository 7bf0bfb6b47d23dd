"""Starting and stopping the processes a benchmark measures (gunicorn, celery), and reading their memory."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from workers.priority import set_session_niceness

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Service:
    """One started process group: the leader (gunicorn arbiter or celery main) and its prefork children."""

    name: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 20) -> None:
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of the leader and each descendant, in MiB, keyed `role:pid`."""
        found = {f"main:{self.process.pid}": rss_mib(self.process.pid)}
        for pid in descendants(self.process.pid):
            found[f"child:{pid}"] = rss_mib(pid)
        return {key: value for key, value in found.items() if value is not None}


def _start(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> Service:
    log_path = log_dir / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            args,
            cwd=REPO,
            env={**os.environ, **env},
            stdout=log_file,
            stderr=log_file,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Service(name, process, log_path)


def _wait(service: Service, ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if not service.alive():
            raise RuntimeError(f"{service.name} exited while starting:\n{service.log()[-3000:]}")
        if time.monotonic() > deadline:
            service.stop()
            raise RuntimeError(f"{service.name}: timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def start_gunicorn(
    name: str, app: str, env: dict[str, str], log_dir: Path, *, port: int, workers: int, threads: int
) -> Service:
    """gunicorn with the project's config (gthread workers), bound to 127.0.0.1:port."""
    env = {
        **env,
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "WEB_CONCURRENCY": str(workers),
        "WEB_THREADS": str(threads),
    }
    service = _start(name, [str(BIN / "gunicorn"), "--config", "python:web.gunicorn_conf", app], env, log_dir)
    _wait(service, lambda: _port_open(port) and len(descendants(service.process.pid)) >= workers, 60, f"port {port}")
    return service


def start_celery(
    name: str, app: str, queue: str, env: dict[str, str], log_dir: Path, *, concurrency: int, niceness: int = 0
) -> Service:
    """A prefork celery worker on one queue, at the given CPU niceness; ready when it logs ' ready.'"""
    args = [
        "nice",
        "-n",
        str(niceness),
        str(BIN / "celery"),
        "-A",
        app,
        "worker",
        "-Q",
        queue,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "-P",
        "prefork",
    ]
    service = _start(name, args, env, log_dir)
    # What our workers do themselves (workers/priority.py), done here for any worker, the bare pipeline's too,
    # so both pipelines' workers yield to their API alike. Without autogroup, `nice` alone does that already.
    set_session_niceness(niceness, service.process.pid)
    _wait(service, lambda: " ready." in service.log(), 60, "' ready.' in its log")
    return service


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def descendants(pid: int) -> list[int]:
    """Every process below pid, read from /proc (children of children included)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry))
    found, frontier = [], [pid]
    while frontier:
        children = parents.get(frontier.pop(), [])
        found.extend(children)
        frontier.extend(children)
    return sorted(found)


def rss_mib(pid: int) -> float | None:
    """VmRSS of one process in MiB (None if it has gone)."""
    try:
        with open(f"/proc/{pid}/statm") as statm:
            return int(statm.read().split()[1]) * _PAGE_KIB / 1024
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes, in seconds (processes that have gone count 0)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def pids_named(command: str, cmdline_contains: str = "") -> list[int]:
    """Processes whose /proc/<pid>/comm is `command` (e.g. postgres, beam.smp, redis-server) and whose
    command line contains `cmdline_contains` (a PostgreSQL backend shows its database there)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm") as comm, open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if comm.read().strip() == command and cmdline_contains.encode() in cmdline.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


# Run at module level (global names), as the calibration loop bench/README.md describes always has been.
_CALIBRATION_LOOP = compile(
    "total = 0\nfor number in range(3_000_000):\n    total += number * number % 7\n", "<calibration>", "exec"
)


def python_loop_seconds() -> float:
    """CPU seconds this process takes for a fixed pure-Python loop: how fast the machine runs Python now.

    On a shared VM the same code runs several times faster or slower from hour to hour, so every benchmark
    prints this beside its figures: two runs compare only at similar values (lower is faster)."""
    started = time.process_time()
    exec(_CALIBRATION_LOOP, {})
    return round(time.process_time() - started, 3)


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        values = [int(value) for value in stat.readline().split()[1:]]
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks
