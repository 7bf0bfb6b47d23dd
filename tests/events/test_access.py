"""Streams are authenticated and scoped like the rest of the API: no credentials, no stream; another account's
jobs, and their events, are never seen."""

from __future__ import annotations

import uuid

from tests.conftest import make_account
from tests.events.conftest import submit
from tests.events.sse import EventSource, of_job
from tests.support import job_body


def test_a_stream_without_credentials_is_a_401_problem(client):
    response = client.get("/v1/events")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["status"] == 401


def test_another_accounts_job_stream_is_a_404_as_a_missing_job_is(client, api, account, other_account):
    theirs = submit(api, other_account.headers, job_body(points=50))
    answers = [client.get(f"/v1/jobs/{job_id}/events", headers=account.headers) for job_id in (theirs, uuid.uuid4())]
    assert [answer.status_code for answer in answers] == [404, 404]
    assert answers[0].get_json()["detail"] == answers[1].get_json()["detail"]


def test_another_accounts_events_never_appear(api, sessions):
    ours, theirs = make_account(sessions), make_account(sessions)
    with EventSource(f"{api}/v1/events", ours.headers) as stream:
        their_job = submit(api, theirs.headers, job_body(points=50))
        our_job = submit(api, ours.headers, job_body(points=50))
        events = stream.wait_for(lambda events: of_job(events, our_job), what="our job's event")
    # Their job came first: had its event reached our stream, it would have come before ours.
    assert {event["data"]["job_id"] for event in events} == {our_job}
    assert not of_job(events, their_job)
