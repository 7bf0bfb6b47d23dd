"""Helpers the tests share: real worker processes, service checks, payloads and polling."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from collections.abc import Callable, Iterator

import numpy as np
from alembic import command
from alembic.config import Config

REPO = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


class ServiceUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    api_key: str
    user_id: uuid.UUID
    account_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key}


def require_service(name: str, host: str, port: int) -> None:
    """A missing service fails the run (CI starts them all); it is never a skip."""
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as error:
        raise ServiceUnavailable(
            f"{name} is not reachable on {host}:{port} ({error}); start it (see .ci/run)"
        ) from None


def alembic_config(url: str) -> Config:
    config = Config(str(REPO / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logging"] = False
    return config


def migrate(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def redis_server_command(directory: Path, *options: str) -> list[str]:
    """A private, throwaway redis-server on 127.0.0.1 (no snapshots, no append-only file, files in `directory`);
    `options` name its port (`--port N`, or `--port 0 --tls-port N`) and anything else."""
    return [
        "redis-server",
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(directory),
        *options,
    ]


def accepts(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something listens on host:port."""
    try:
        socket.create_connection((host, port), timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class GunicornServer:
    port: int
    arbiter: subprocess.Popen

    def worker_pid(self) -> int:
        [pid] = Path(f"/proc/{self.arbiter.pid}/task/{self.arbiter.pid}/children").read_text().split()
        return int(pid)


@contextmanager
def gunicorn_server(
    env: dict[str, str], log_dir: Path, *, threads: int = 2, access_log: Path | None = None, port: int | None = None
) -> Iterator[GunicornServer]:
    """The API as the Procfile runs it (gunicorn, web.gunicorn_conf), one process on `port` (a free one) of
    127.0.0.1, once /health answers; `access_log` records each request as `METHOD PATH STATUS`."""
    import httpx

    port = port or free_port()
    env = {
        **os.environ,
        **env,
        "WEB_CONCURRENCY": "1",
        "WEB_THREADS": str(threads),
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
    }
    logging = ["--access-logfile", str(access_log), "--access-logformat", "%(m)s %(U)s %(s)s"] if access_log else []

    def serves() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    with open(log_dir / "gunicorn.log", "ab") as log_file:
        process = subprocess.Popen(
            [GUNICORN, "--config", "python:web.gunicorn_conf", *logging, "web:create_app()"],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    try:
        wait_until(serves, 60, "gunicorn to serve")
        yield GunicornServer(port, process)
    finally:
        stop_process_group(process, grace=30)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.05):
    """Poll an asynchronous outcome (a worker's write, a process start) until it holds or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        if outcome:
            return outcome
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def child_pids(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in found.split()]


@contextmanager
def celery_worker(
    env: dict[str, str],
    tmp_path: Path,
    *,
    queues: str = "core-analysis",
    concurrency: int = 1,
    scheduler: bool = False,
    name: str | None = None,
    app: str = "workers",
) -> Iterator[WorkerProcess]:
    """A real `celery -A <app> worker` process, started and stopped by the test; with `scheduler`, the app's
    `celery beat` process beside it, as the Procfile runs them.

    `workers` is the core app (core-analysis only); `workers.payment_worker` the payment app (payment-webhook).
    """
    name = name or f"test-{uuid.uuid4().hex[:8]}"
    args = [
        CELERY,
        "-A",
        app,
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "-P",
        "prefork",
    ]
    with _celery_process(args, env, tmp_path / f"{name}.log", " ready.", f"worker {name}") as worker:
        if scheduler:
            with celery_scheduler(env, tmp_path, app=app, name=f"{name}-scheduler"):
                yield worker
        else:
            yield worker


@contextmanager
def celery_scheduler(
    env: dict[str, str], tmp_path: Path, *, app: str = "workers", name: str | None = None
) -> Iterator[WorkerProcess]:
    """A real `celery -A <app> beat` process (the Procfile's `scheduler`), started and stopped by the test."""
    name = name or f"scheduler-{uuid.uuid4().hex[:8]}"
    with _celery_process(
        [CELERY, "-A", app, "beat"], env, tmp_path / f"{name}.log", "beat: Starting", name
    ) as scheduler:
        yield scheduler


@contextmanager
def _celery_process(
    args: list[str], env: dict[str, str], log_path: Path, started: str, what: str
) -> Iterator[WorkerProcess]:
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            args, cwd=REPO, env={**os.environ, **env}, stdout=log_file, stderr=log_file, start_new_session=True
        )
    celery = WorkerProcess(process, log_path)
    try:
        wait_until(lambda: started in celery.log() or process.poll() is not None, 60, f"{what} to start")
        if process.poll() is not None:
            raise AssertionError(f"{what} exited:\n{celery.log()[-3000:]}")
        yield celery
    finally:
        stop_process_group(process, grace=20)


def stop_process_group(process: subprocess.Popen, *, grace: float) -> None:
    """SIGTERM a process started in its own session, then SIGKILL its group if it outlives the grace."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


def telemetry(points: int = 200, *, host: str | None = None, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    start = 1_767_225_600  # 2026-01-01T00:00:00Z
    data = {
        "timestamps": [start + 60 * i for i in range(points)],
        "metrics": {
            "cpu_percent": (40 + 5 * rng.standard_normal(points)).round(3).tolist(),
            "memory_percent": (55 + 2 * rng.standard_normal(points)).round(3).tolist(),
        },
    }
    if host:
        data["host"] = host
    return data


def submit_directly(
    session,
    account: Account,
    *,
    scopes: tuple[str, ...] = ("jobs:read", "jobs:write"),
    job_type: str = "anomaly_detection",
    data: dict | None = None,
    priority: str = "normal",
    **options,
) -> uuid.UUID:
    """A job submitted in `session` through the domain service, as the API would submit it for the account's
    owner (ten points of telemetry unless `data` is given, kept a day); its id."""
    from smartcompute.accounts.services import Principal
    from smartcompute.jobs import services

    principal = Principal(account.user_id, account.account_id, "owner", scopes)
    return services.submit_job(
        session,
        principal,
        job_type=job_type,
        data=telemetry(10) if data is None else data,
        priority=priority,
        retention=timedelta(days=1),
        **options,
    ).job_id


def job_body(job_type: str = "anomaly_detection", points: int = 200, priority: str | None = None, **extra) -> dict:
    body = {"type": job_type, "data": telemetry(points, **extra)}
    if priority:
        body["priority"] = priority
    return body
