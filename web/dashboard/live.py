"""Live updates for the dashboard's pages: the account's events, or one job's, as server-sent events for the
cookie's sign-in, through the API's own stream operations (web/events.py), with their scope check and bound."""

from __future__ import annotations

from flask import request
from werkzeug.wrappers import Response

from web import events as events_api
from web.dashboard.pages import api, dashboard
from web.routes import validated


@dashboard.get("/events")
def events() -> Response:
    """EventSource sends Last-Event-ID itself when it reconnects, so a page misses nothing within the retention."""
    sent = request.headers.get("Last-Event-ID")
    headers = validated(events_api.StreamHeaders, {"Last-Event-ID": sent} if sent else {})
    job_id = request.args.get("job_id")
    if job_id:
        return api(events_api.job_events, job_id=job_id, headers=headers)
    return api(events_api.account_events, headers=headers)
