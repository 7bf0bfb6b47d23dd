"""Live updates as server-sent events: `GET /v1/events` (the account's jobs) and `GET /v1/jobs/{id}/events`.

`event_stream_response` is the one way to open a stream: the API's views call it once they have authenticated
the caller, and so may any other authenticated view (the dashboard's). Events come from the event log
(smartcompute/events/log.py), woken by this process's one LISTEN connection (smartcompute/events/hub.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flask import Blueprint, Flask, Response, current_app
from pydantic import BaseModel, Field

from config import Settings
from smartcompute.events.hub import EventHub
from smartcompute.events.schemas import StreamedEvent
from smartcompute.jobs import services
from web.access import scope
from web.auth import current_principal
from web.event_stream import StreamSettings, StreamsFull, StreamSlots, frames, opening
from web.problems import Problem
from web.replies import path_uuid
from web.routes import Reply, operation
from web.runtime import statement_db, web_runtime

events = Blueprint("events", __name__)
EVENT_STREAM = "text/event-stream"
_EXTENSION = "smartcompute.events"
_STREAM = Reply(
    "Server-sent events until the stream's lifetime ends (EVENT_STREAM_MAX_SECONDS); reconnect with "
    "Last-Event-ID to resume. Events: job.status, incident.opened, incident.closed, reset; a comment "
    "every EVENT_HEARTBEAT_SECONDS.",
    StreamedEvent,
    media_type=EVENT_STREAM,
)
_FULL = "Every event stream this API process may keep open is in use, or the database is unavailable; see Retry-After"


class StreamHeaders(BaseModel):
    last_event_id: str | None = Field(
        default=None,
        alias="Last-Event-ID",
        max_length=64,
        description="the last event's id a client saw: the stream resumes after it (or sends `reset`)",
    )


@dataclass(frozen=True)
class EventStreams:
    """What this process's streams share: the listener, the bound on open streams and their timing."""

    hub: EventHub
    slots: StreamSlots
    timing: StreamSettings


def init_events(app: Flask, settings: Settings) -> None:
    """Nothing connects or starts here: the listener starts with the process's first stream."""
    app.extensions[_EXTENSION] = EventStreams(
        EventHub(settings.DATABASE_URL),
        StreamSlots(settings.EVENT_STREAMS_PER_PROCESS, settings.EVENT_STREAM_MAX_SECONDS),
        StreamSettings(heartbeat=settings.EVENT_HEARTBEAT_SECONDS, lifetime=settings.EVENT_STREAM_MAX_SECONDS),
    )
    app.register_blueprint(events)


def end_event_streams(app: Flask) -> None:
    """End every stream of this process now, so that a stopping process does not wait out its graceful timeout
    for them; their clients reconnect, with Last-Event-ID, to a process that stays."""
    streams = getattr(app, "extensions", {}).get(_EXTENSION)
    if streams is not None:
        streams.hub.close()


def event_stream_response(account_id: uuid.UUID, job_id: uuid.UUID | None, last_event_id: str | None) -> Response:
    """The account's events (only `job_id`'s, if given) as a text/event-stream Response, resuming after
    `last_event_id`. The caller has authenticated the account; a job of another account is a 404 Problem, and a
    process whose streams are all in use raises a 503 Problem with Retry-After."""
    if job_id is not None and not services.job_belongs_to(statement_db(), account_id, job_id):
        raise Problem(404, "no such job", kind="not-found")
    streams: EventStreams = current_app.extensions[_EXTENSION]
    try:
        slot = streams.slots.take()
    except StreamsFull as full:
        raise Problem(
            503, f"{full}; try again later", kind="too-many-streams", headers={"Retry-After": str(full.retry_after)}
        ) from None
    try:
        engine = web_runtime().autocommit_engine
        position, first = opening(engine, last_event_id)
        body = frames(streams.hub, engine, account_id, job_id, position, first, streams.timing)
    except BaseException:
        slot.release()
        raise
    response = Response(body, mimetype=EVENT_STREAM, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    response.call_on_close(slot.release)  # when the server closes the response: ended, or the client went away
    return response


@operation(
    events,
    "GET",
    "/v1/events",
    "streamEvents",
    "Follow every job of the account as server-sent events",
    access=scope("jobs:read"),
    headers=StreamHeaders,
    responses={200: _STREAM, 503: _FULL},
)
def account_events(headers: StreamHeaders) -> Response:
    return event_stream_response(current_principal().account_id, None, headers.last_event_id)


@operation(
    events,
    "GET",
    "/v1/jobs/<job_id>/events",
    "streamJobEvents",
    "Follow one job as server-sent events",
    access=scope("jobs:read"),
    headers=StreamHeaders,
    path={"job_id": uuid.UUID},
    responses={200: _STREAM, 404: "No such job", 503: _FULL},
)
def job_events(job_id: str, headers: StreamHeaders) -> Response:
    return event_stream_response(current_principal().account_id, path_uuid(job_id, "job"), headers.last_event_id)
