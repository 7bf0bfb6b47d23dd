"""`/metrics` under gunicorn: whichever API process a scrape reaches, it reports every process's requests."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO, free_port, stop_process_group, wait_until

# Each test starts gunicorn with several API processes.
pytestmark = pytest.mark.services
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))
HEALTH_OK = ("smartcompute_http_requests_total", (("method", "GET"), ("route", "/health"), ("status", "200")))


def _health_counts(port: int, credentials: str) -> float:
    auth = "Basic " + base64.b64encode(credentials.encode()).decode()
    response = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": auth, "Connection": "close"})
    response.raise_for_status()
    families = list(text_string_to_metric_families(response.text))
    names = [family.name for family in families]
    assert len(names) == len(set(names)), "a family twice makes Prometheus reject the whole scrape"
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families
        for sample in family.samples
    }
    assert not any("pid" in dict(labels) for _, labels in samples), "each process's copy of a value"
    assert ("smartcompute_oldest_queued_job_age_seconds", ()) in samples
    return samples.get(HEALTH_OK, 0)


def _served(access_log: Path, path: str) -> set[str]:
    """The pids of the processes that answered `path`."""
    return {line.split()[0] for line in access_log.read_text().splitlines() if line.endswith(f" {path}")}


def _serves(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_every_scrape_counts_the_requests_of_every_api_process(base_env, tmp_path):
    port, credentials = free_port(), f"prometheus:{secrets.token_urlsafe(12)}"
    env = {
        **os.environ,
        **base_env,
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "2",
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "METRICS_BASIC_AUTH": credentials,
        "TMPDIR": str(tmp_path / "tmp"),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    (tmp_path / "tmp").mkdir()
    access_log = tmp_path / "access.log"
    with open(tmp_path / "gunicorn.log", "wb") as log_file:
        process = subprocess.Popen(
            [
                GUNICORN,
                "--config",
                "python:web.gunicorn_conf",
                "--access-logfile",
                str(access_log),
                "--access-logformat",
                "%(p)s %(U)s",
                "web:create_app()",
            ],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    try:
        wait_until(lambda: _serves(port), 60, "gunicorn to serve")
        sent = 0
        while sent < 400 and len(_served(access_log, "/health")) < 2:  # new connections, until both have answered
            for _ in range(20):
                httpx.get(f"http://127.0.0.1:{port}/health", headers={"Connection": "close"}).raise_for_status()
            sent += 20
        scrapes = []
        while len(scrapes) < 200 and len(_served(access_log, "/metrics")) < 2:  # until both have answered one
            scrapes += [_health_counts(port, credentials) for _ in range(10)]
        metrics_dirs = list((tmp_path / "tmp").glob("smartcompute-api-metrics-*"))
    finally:
        stop_process_group(process, grace=30)
    assert len(_served(access_log, "/health")) == 2 and len(_served(access_log, "/metrics")) == 2
    assert set(scrapes) == {sent}
    assert len(metrics_dirs) == 1 and not metrics_dirs[0].exists()  # removed when gunicorn stops


def test_gunicorns_master_process_does_not_import_prometheus_client():
    # prometheus_client picks its multiprocess mode at import: imported before the master sets the directory,
    # each process would count alone and a scrape would see one process's share.
    probe = "import sys, web.gunicorn_conf; print('prometheus_client' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
