"""A client reconnecting with Last-Event-ID gets every later event of its account that is still kept, in order;
one whose id is too old, or not this API's, is told to fetch the jobs again."""

from __future__ import annotations

from datetime import timedelta

from tests.events.conftest import cancel, submit
from tests.events.sse import EventSource, of_job
from tests.support import job_body
from workers.tasks import prune_events


def _names(events: list[dict]) -> list[tuple[str, str]]:
    return [(event["data"]["job_id"], event["data"]["status"]) for event in events]


def test_a_client_resuming_with_last_event_id_misses_nothing(api, account):
    with EventSource(f"{api}/v1/events", account.headers) as stream:
        first = submit(api, account.headers, job_body(points=50))
        [seen] = stream.wait_for(lambda events: of_job(events, first), what="the first job's event")
    # While the client is away: another job, and both canceled.
    second = submit(api, account.headers, job_body(points=50))
    cancel(api, account.headers, first)
    cancel(api, account.headers, second)
    with EventSource(f"{api}/v1/events", account.headers, last_event_id=seen["id"]) as resumed:
        events = resumed.wait_for(lambda events: len(events) >= 3, what="the events missed")
    assert _names(events) == [(second, "queued"), (first, "canceled"), (second, "canceled")]


def test_each_event_id_comes_after_the_one_before(api, account):
    with EventSource(f"{api}/v1/events", account.headers) as stream:
        jobs = [submit(api, account.headers, job_body(points=50)) for _ in range(3)]
        events = stream.wait_for(lambda events: len(events) >= 3, what="three events")
    positions = [tuple(int(part) for part in event["id"].split("-")) for event in events]
    assert positions == sorted(set(positions))
    assert [event["data"]["job_id"] for event in events] == jobs


def test_an_id_older_than_the_retention_window_is_told_to_fetch_again(api, account, sessions):
    with EventSource(f"{api}/v1/events", account.headers) as stream:
        submit(api, account.headers, job_body(points=50))
        old = stream.wait_for(lambda events: events, what="an event")[0]["id"]
    submit(api, account.headers, job_body(points=50))  # while the client is away
    assert prune_events(sessions, timedelta(0)) > 0  # the scheduled round, with every event past its retention
    with EventSource(f"{api}/v1/events", account.headers, last_event_id=old) as resumed:
        job = submit(api, account.headers, job_body(points=50))
        events = resumed.wait_for(lambda events: of_job(events, job), what="the new job's event")
    assert events[0]["event"] == "reset" and events[0]["data"]["reason"] == "expired"
    assert events[1:] == of_job(events, job)


def test_an_id_this_api_never_gave_is_told_to_fetch_again(api, account):
    with EventSource(f"{api}/v1/events", account.headers, last_event_id="not-an-event") as stream:
        [reset] = stream.wait_for(lambda events: events, what="the reset")
    assert reset["event"] == "reset" and reset["data"]["reason"] == "unknown"


def test_the_maintenance_round_keeps_events_within_the_retention_window(api, account, sessions):
    with EventSource(f"{api}/v1/events", account.headers) as stream:
        job = submit(api, account.headers, job_body(points=50))
        [seen] = stream.wait_for(lambda events: of_job(events, job), what="the job's event")
    cancel(api, account.headers, job)
    prune_events(sessions, timedelta(hours=24))
    with EventSource(f"{api}/v1/events", account.headers, last_event_id=seen["id"]) as resumed:
        events = resumed.wait_for(lambda events: events, what="the event kept")
    assert _names(events) == [(job, "canceled")]
