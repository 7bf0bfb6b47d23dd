"""The API as gunicorn runs it, for streams that last: quick heartbeats, so a closed client frees its slot soon."""

from __future__ import annotations

import httpx
import pytest

from tests.support import gunicorn_server

QUICK_HEARTBEATS = {"EVENT_HEARTBEAT_SECONDS": "1", "EVENT_STREAM_MAX_SECONDS": "60"}


@pytest.fixture(scope="session")
def events_env(base_env) -> dict[str, str]:
    return {**base_env, **QUICK_HEARTBEATS}


@pytest.fixture(scope="session")
def api(events_env, tmp_path_factory) -> str:
    """One API process with four request threads, so two event streams at most (EVENT_STREAMS_PER_PROCESS)."""
    with gunicorn_server(events_env, tmp_path_factory.mktemp("api"), threads=4) as server:
        yield f"http://127.0.0.1:{server.port}"


def submit(api: str, headers: dict[str, str], body: dict) -> str:
    response = httpx.post(f"{api}/v1/jobs", json=body, headers=headers, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()["id"]


def cancel(api: str, headers: dict[str, str], job_id: str) -> None:
    response = httpx.post(f"{api}/v1/jobs/{job_id}/cancel", headers=headers, timeout=30)
    assert response.status_code == 200, response.text
