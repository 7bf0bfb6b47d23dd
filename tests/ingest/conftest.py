"""The API stack the ingest clients talk to: gunicorn and a core worker on a broker namespace of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import celery_worker, gunicorn_server, wait_until
from tests.workers.conftest import LOCAL_CALLBACKS

SMARTCOMPUTE = str(Path(sys.executable).with_name("smartcompute"))


@pytest.fixture(scope="session")
def ingest_env(base_env) -> dict[str, str]:
    # Its scheduler lives for the whole run and re-sends the callbacks of every test's jobs in the run's database,
    # whose receivers listen on 127.0.0.1: its worker must be allowed to reach them, as every test worker is.
    return {
        **base_env,
        **LOCAL_CALLBACKS,
        "BROKER_KEY_PREFIX": f"{base_env['BROKER_KEY_PREFIX']}ingest:",
        "REPUBLISH_INTERVAL": "1",
        "REPUBLISH_UNSENT_AFTER": "1",
    }


@pytest.fixture(scope="session")
def ingest_worker(ingest_env, tmp_path_factory):
    with celery_worker(ingest_env, tmp_path_factory.mktemp("ingest-worker"), concurrency=2, scheduler=True) as worker:
        yield worker


@pytest.fixture(scope="session")
def ingest_api(ingest_env, ingest_worker, tmp_path_factory) -> str:
    """The API's base URL; jobs submitted to it run."""
    with gunicorn_server(ingest_env, tmp_path_factory.mktemp("ingest-api")) as server:
        yield f"http://127.0.0.1:{server.port}"


def client_env(url: str, api_key: str, **settings: str) -> dict[str, str]:
    """What a machine running the clients has: no service settings, only the API's URL and key."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/root"),
        "SMARTCOMPUTE_URL": url,
        "SMARTCOMPUTE_API_KEY": api_key,
        **settings,
    }


def smartcompute(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([SMARTCOMPUTE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def finished_jobs(url: str, api_key: str, job_ids: list[str], timeout: float = 60) -> list[dict]:
    """The jobs, once every one has finished."""

    def all_finished():
        jobs = [httpx.get(f"{url}/v1/jobs/{job_id}", headers={"X-API-Key": api_key}).json() for job_id in job_ids]
        return jobs if all(job["status"] in ("succeeded", "failed", "canceled") for job in jobs) else None

    return wait_until(all_finished, timeout, "the jobs to finish", interval=0.5)


def all_jobs(url: str, api_key: str) -> list[dict]:
    """Every job of the account, through the API's pages."""
    jobs, cursor = [], None
    while True:
        page = httpx.get(
            f"{url}/v1/jobs",
            params={"limit": 100, **({"cursor": cursor} if cursor else {})},
            headers={"X-API-Key": api_key},
        ).json()
        jobs += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return jobs
