"""`bin/dev` (what `make run` starts): embedded PostgreSQL and Redis, kept secrets, the Procfile under honcho."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

import httpx
import psutil
import pytest

from tests.support import REPO, free_port, job_body, wait_until

LAUNCHER = REPO / "bin" / "dev"
# The launcher must decide for itself: nothing the test run (or a developer's shell) set may leak in.
_NOT_INHERITED = {
    "DATABASE_URL",
    "REDIS_URL",
    "BROKER_URL",
    "BROKER_KEY_PREFIX",
    "SECRET_KEY",
    "JWT_SECRET_KEY",
    "PAYMENT_WEBHOOK_SECRET",
    "FLOWER_BASIC_AUTH",
    "PORT",
    "FLOWER_PORT",
    "BIND_ADDRESS",
    "FLOWER_ADDRESS",
}


# The demo key bin/dev prints once it is ready, its whole line (a migration's name may mention API keys before
# that, and a line being written may hold part of the key).
DEMO_KEY = re.compile(r"API key\s+(sck_\w+)\s+\(shown once")


def launcher_env(state: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in _NOT_INHERITED}
    return {**env, "SMARTCOMPUTE_STATE_DIR": str(state), "PYTHONUNBUFFERED": "1", **extra}


def load_devstack():
    spec = importlib.util.spec_from_file_location("devstack", REPO / "bin" / "devstack.py")
    module = sys.modules["devstack"] = importlib.util.module_from_spec(spec)  # bin/ is not a package
    spec.loader.exec_module(module)
    return module


def test_secrets_are_generated_once_kept_private_and_yield_to_the_environment(tmp_path):
    devstack = load_devstack()
    path = tmp_path / "secrets.env"
    first = devstack.kept_secrets(path, {})
    assert set(first) == {"SECRET_KEY", "JWT_SECRET_KEY", "PAYMENT_WEBHOOK_SECRET", "FLOWER_BASIC_AUTH"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert devstack.kept_secrets(path, {}) == first
    assert "SECRET_KEY" not in devstack.kept_secrets(path, {"SECRET_KEY": "x" * 32})


def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    finished = subprocess.run(
        [sys.executable, str(LAUNCHER)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env=launcher_env(tmp_path / "state", SECRET_KEY="short"),
    )
    assert finished.returncode == 2
    assert finished.stderr.strip().splitlines() == ["bin/dev: SECRET_KEY: must be at least 16 characters"]
    assert not (tmp_path / "state" / "pgdata").exists()  # nothing was started


@dataclass
class Launched:
    process: subprocess.Popen
    log_path: Path
    state: Path
    api: str
    flower: str

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def postmaster_pid(self) -> int | None:
        pid_file = self.state / "pgdata" / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None


def _stop_leftovers(launched: Launched, descendants: list[psutil.Process]) -> None:
    """Only when the test failed half-way: nothing of this run may outlive it."""
    if launched.process.poll() is None:
        os.killpg(launched.process.pid, signal.SIGKILL)
        launched.process.wait(5)
    for process in descendants:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    postmaster = launched.postmaster_pid()
    if postmaster and psutil.pid_exists(postmaster):
        os.kill(postmaster, signal.SIGINT)  # PostgreSQL's fast shutdown


@pytest.fixture
def launched(tmp_path: Path) -> Iterator[Launched]:
    state = tmp_path / "state"
    port, flower_port = free_port(), free_port()
    env = launcher_env(
        state,
        PORT=str(port),
        FLOWER_PORT=str(flower_port),
        WEB_CONCURRENCY="1",
        CORE_CONCURRENCY="1",
        PAYMENT_CONCURRENCY="1",
    )
    log_path = tmp_path / "dev.log"
    with open(log_path, "wb") as log_file:  # its own group, as in a terminal where Ctrl-C goes to it
        process = subprocess.Popen(
            [sys.executable, str(LAUNCHER)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    launched = Launched(process, log_path, state, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{flower_port}")
    descendants: list[psutil.Process] = []
    try:
        wait_until(
            lambda: process.poll() is not None or DEMO_KEY.search(launched.log()), 60, "bin/dev to start", interval=0.3
        )
        assert process.poll() is None, f"bin/dev exited:\n{launched.log()[-4000:]}"
        descendants[:] = psutil.Process(process.pid).children(recursive=True)
        yield launched
    finally:
        _stop_leftovers(launched, descendants)


@pytest.mark.services  # embedded PostgreSQL and Redis, the API and both workers
@pytest.mark.slow
def test_bin_dev_runs_a_job_on_embedded_servers_and_stops_everything_on_ctrl_c(launched):
    key = DEMO_KEY.search(launched.log()).group(1)
    secrets_file = launched.state / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    user, _, password = re.search(r"^FLOWER_BASIC_AUTH=(\S+)$", secrets_file.read_text(), re.M).group(1).partition(":")
    assert f"user {user}  password {password}" in launched.log()
    assert f"Dashboard    {launched.api}/app" in launched.log()
    assert re.search(r"Demo job     [0-9a-f-]{36}", launched.log())

    submitted = httpx.post(f"{launched.api}/v1/jobs", json=job_body(), headers={"X-API-Key": key}, timeout=10)
    assert submitted.status_code == 202, submitted.text
    job_url = f"{launched.api}/v1/jobs/{submitted.json()['id']}"

    def finished() -> dict | None:
        job = httpx.get(job_url, headers={"X-API-Key": key}, timeout=5).json()
        return job if job["status"] in {"succeeded", "failed", "cancelled"} else None

    assert wait_until(finished, 60, "the job to finish", interval=0.3)["status"] == "succeeded"

    def flower_workers() -> set[str] | None:  # Flower on the embedded broker: redis+socket://
        answer = httpx.get(f"{launched.flower}/api/workers", params={"refresh": 1}, auth=(user, password), timeout=10)
        names = {name.partition("@")[0] for name in answer.json()} if answer.status_code == 200 else set()
        return names if names >= {"core", "payments"} else None

    wait_until(flower_workers, 30, "Flower to list both workers", interval=0.5)
    assert_ctrl_c_stops_everything(launched)


def assert_ctrl_c_stops_everything(launched: Launched) -> None:
    processes = psutil.Process(launched.process.pid).children(recursive=True)
    postmaster = psutil.Process(launched.postmaster_pid())
    assert len(processes) > 10 and postmaster.is_running()  # honcho, gunicorn, celery, flower, redis-server
    os.killpg(launched.process.pid, signal.SIGINT)  # what Ctrl-C in its terminal does
    assert launched.process.wait(45) == 0, launched.log()[-3000:]
    _, alive = psutil.wait_procs([*processes, postmaster], timeout=10)
    assert not alive, f"still running: {alive}"
    assert launched.postmaster_pid() is None
    assert not (launched.state / "redis" / "redis.sock").exists()
    log = launched.log()
    assert log.index("stopping embedded Redis") < log.index("stopping embedded PostgreSQL")
