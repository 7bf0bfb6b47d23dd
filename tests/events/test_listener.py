"""The one listening connection per API process comes back when the database ends it, and streams are woken by
it again: nothing waits for a heartbeat."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL
from tests.events.conftest import submit
from tests.events.sse import EventSource, of_job
from tests.support import gunicorn_server, job_body, wait_until

_LISTENERS = text("SELECT pid FROM pg_stat_activity WHERE datname = :name AND query = 'LISTEN smartcompute_events'")


@pytest.fixture(scope="module")
def slow_heartbeat_api(events_env, tmp_path_factory) -> str:
    """Heartbeats far apart, so an event that arrives soon was woken by a notification, not found at a beat."""
    env = {**events_env, "EVENT_HEARTBEAT_SECONDS": "120", "EVENT_STREAM_MAX_SECONDS": "300"}
    with gunicorn_server(env, tmp_path_factory.mktemp("slow-heartbeat"), threads=4) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_streams_are_woken_again_once_the_listener_reconnects(slow_heartbeat_api, database_url, account):
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = make_url(database_url).database
    try:
        with EventSource(f"{slow_heartbeat_api}/v1/events", account.headers) as stream, admin.connect() as connection:
            [cut] = wait_until(
                lambda: connection.execute(_LISTENERS, {"name": name}).scalars().all(), 30, "the API process to listen"
            )
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": cut})
            wait_until(
                lambda: set(connection.execute(_LISTENERS, {"name": name}).scalars().all()) - {cut},
                30,
                "the API process to listen again",
            )
            job = submit(slow_heartbeat_api, account.headers, job_body(points=50))
            stream.wait_for(lambda events: of_job(events, job), 20, "the job's event, well before a heartbeat")
    finally:
        admin.dispose()
