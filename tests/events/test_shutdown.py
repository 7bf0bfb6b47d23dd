"""An API process told to stop ends its streams at once, rather than waiting out its graceful timeout for them."""

from __future__ import annotations

import os
import signal
import time

from tests.events.sse import EventSource
from tests.support import gunicorn_server


def test_a_stopping_api_process_ends_its_streams_at_once(events_env, account, tmp_path):
    env = {**events_env, "EVENT_HEARTBEAT_SECONDS": "120"}
    with gunicorn_server(env, tmp_path, threads=2) as server:
        with EventSource(f"http://127.0.0.1:{server.port}/v1/events", account.headers, read_timeout=60) as stream:
            told = time.monotonic()
            os.kill(server.arbiter.pid, signal.SIGTERM)
            assert stream.ended.wait(5)
            server.arbiter.wait(15)
    assert time.monotonic() - told < 10  # gunicorn's graceful_timeout is 20 s
