"""Every change of a job's status is an event, wherever it is made: a worker's claim and finish (SQL functions),
a requeue by the maintenance round, a cancel through the API."""

from __future__ import annotations

import uuid
from datetime import timedelta

from smartcompute.db import utcnow
from smartcompute.jobs import lifecycle
from tests.events.conftest import cancel, submit
from tests.events.sse import EventSource, statuses
from tests.support import job_body


def test_claims_requeues_failures_and_cancels_are_each_an_event(api, account, sessions):
    with EventSource(f"{api}/v1/events", account.headers) as stream:
        failed, canceled = (submit(api, account.headers, job_body(points=50)) for _ in range(2))
        with sessions() as session:
            lifecycle.claim(session, uuid.UUID(failed), max_attempts=3)
            lifecycle.requeue_abandoned(session, uuid.UUID(failed), claimed_before=utcnow() + timedelta(minutes=1))
            session.commit()
            lifecycle.claim(session, uuid.UUID(failed), max_attempts=3)
            lifecycle.fail(session, uuid.UUID(failed), {"type": "test", "message": "failed on purpose"})
            session.commit()
        cancel(api, account.headers, canceled)
        events = stream.wait_for(lambda events: "canceled" in statuses(events, canceled), what="the cancel")
    assert statuses(events, failed) == ["queued", "running", "queued", "running", "failed"]
    assert statuses(events, canceled) == ["queued", "canceled"]
