"""The rate limit holds across processes: two gunicorn workers share one Redis counter."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.support import REPO, free_port, stop_process_group, wait_until

GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
LIMIT = 12


def _start(env: dict, tmp_path: Path, port: int) -> tuple[subprocess.Popen, Path]:
    access_log, error_log = tmp_path / "access.log", tmp_path / "gunicorn.log"
    args = [
        GUNICORN,
        "--config",
        "python:web.gunicorn_conf",
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        "%(p)s %(s)s",
        "web:create_app()",
    ]
    with open(error_log, "wb") as log_file:
        process = subprocess.Popen(args, cwd=REPO, env=env, stdout=log_file, stderr=log_file, start_new_session=True)
    return process, access_log


def _get(port: int, key: str) -> int:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:  # a new connection each time
        return client.get("/v1/jobs", headers={"X-API-Key": key, "Connection": "close"}).status_code


def test_two_gunicorn_workers_share_the_limit(base_env, account, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        **base_env,
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "4",
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "RATE_LIMIT_KEY_PREFIX": f"{base_env['RATE_LIMIT_KEY_PREFIX']}:{uuid.uuid4().hex}",
        "PLANS": f"free:requests={LIMIT}/minute",
    }
    process, access_log = _start(env, tmp_path, port)
    try:

        def ready():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "gunicorn to serve")
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda _: _get(port, account.api_key), range(3 * LIMIT)))
    finally:
        stop_process_group(process, grace=30)
    assert statuses.count(200) == LIMIT and statuses.count(429) == 2 * LIMIT
    served_by = {line.split()[0] for line in access_log.read_text().splitlines() if line.endswith((" 200", " 429"))}
    assert len(served_by) == 2, f"expected both workers to serve; pids seen: {served_by}"
