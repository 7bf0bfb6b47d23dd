"""Streams cannot take every request thread: a bounded number per process, 503 with Retry-After beyond it; a
quiet stream sends heartbeats, and ends after its lifetime so that its client reconnects."""

from __future__ import annotations

import httpx
import pytest

from config import ConfigError, Settings
from tests.events.conftest import submit
from tests.events.sse import EventSource, of_job
from tests.support import gunicorn_server, job_body

LIFETIME = 4


@pytest.fixture(scope="module")
def small_api(events_env, tmp_path_factory) -> str:
    """Two request threads, so one stream at most (half of WEB_THREADS), each lasting LIFETIME seconds."""
    env = {**events_env, "EVENT_STREAM_MAX_SECONDS": str(LIFETIME)}
    with gunicorn_server(env, tmp_path_factory.mktemp("small-api"), threads=2) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_a_stream_beyond_the_limit_is_a_503_problem_with_retry_after(small_api, account):
    with EventSource(f"{small_api}/v1/events", account.headers):
        refused = httpx.get(f"{small_api}/v1/events", headers=account.headers, timeout=10)
        served = httpx.get(f"{small_api}/v1/jobs", headers=account.headers, timeout=10)
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= LIFETIME
    assert served.status_code == 200  # the thread left over still serves the API


def test_a_quiet_stream_sends_a_heartbeat_comment_each_interval(small_api, account):
    with EventSource(f"{small_api}/v1/events", account.headers) as stream:
        stream.ended.wait(LIFETIME + 10)
    assert stream.events == [] and stream.comments >= LIFETIME - 1  # one a second, as the tests' settings ask


def test_a_stream_ends_after_its_lifetime_and_its_client_reconnects_to_the_next_events(small_api, account):
    with EventSource(f"{small_api}/v1/events", account.headers, reconnect=True) as stream:
        stream.ended.wait(LIFETIME + 10)
        job = submit(small_api, account.headers, job_body(points=50))
        stream.wait_for(lambda events: of_job(events, job), what="the job's event after the reconnect")
    assert stream.ended.is_set() and stream.connections >= 2


def test_a_stream_limit_that_would_take_every_request_thread_stops_the_process_at_start(base_env):
    with pytest.raises(ConfigError, match="EVENT_STREAMS_PER_PROCESS: must be below WEB_THREADS"):
        Settings.from_mapping({**base_env, "WEB_THREADS": "4", "EVENT_STREAMS_PER_PROCESS": "4"})
