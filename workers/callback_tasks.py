"""Telling customers their job finished: one attempt per task; the re-publisher schedules the retries."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from config.logging import job_id_var, request_id_var
from smartcompute.db import utcnow
from smartcompute.jobs import callback_http, callbacks
from workers import app
from workers.celery_app import DELIVER_CALLBACK
from workers.publishing import BrokerRefused, publish_callback, send_due
from workers.runtime import runtime

log = logging.getLogger("smartcompute.worker")


@app.task(name=DELIVER_CALLBACK, shared=False, acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)
def deliver_job_callback(job_id: str, request_id: str | None = None) -> None:
    """POST the job's notification once. Any number of these may run for one job: only the one that claims the
    due attempt sends, and a lost task is made up by the re-publisher (`publish_due_callbacks`)."""
    job_uuid = uuid.UUID(job_id)
    job_id_var.set(job_id)
    request_id_var.set(request_id)
    worker = runtime(app)
    timeout = worker.settings.CALLBACK_TIMEOUT_SECONDS
    with worker.sessions() as session:
        # The lease outlasts the attempt (resolving and sending take at most a timeout each), so no second
        # worker sends while this one waits for an answer; if this one dies, the re-publisher sends it after.
        delivery = callbacks.claim(session, job_uuid, lease=timedelta(seconds=2 * timeout + 10))
    if delivery is None:
        return
    outcome, hung = _attempt(delivery, timeout, worker.settings.CALLBACK_PRIVATE_NETWORKS)
    with worker.sessions() as session:
        callbacks.record(session, delivery, outcome, hung=hung)
        session.commit()
    if outcome.delivered:
        log.info("callback delivered", extra={"status": outcome.status, "attempt": delivery.attempt})
    else:
        log.warning(
            "callback not delivered",
            extra={"status": outcome.status, "error": outcome.error, "attempt": delivery.attempt},
        )


def _attempt(delivery: callbacks.Delivery, timeout: float, allow_private: bool) -> tuple[callbacks.Outcome, bool]:
    """The attempt's outcome, and whether it was left hanging (see `callbacks.QUIET_SECONDS`)."""
    if callbacks.is_quiet(delivery, utcnow()):
        return callbacks.Outcome(False, error="not tried: the account's receiver just failed to answer in time"), False
    headers = callbacks.signature_headers(delivery.secret, str(delivery.job_id), int(time.time()), delivery.body)
    started = time.monotonic()
    outcome = callback_http.post(delivery.url, delivery.body, headers, timeout=timeout, allow_private=allow_private)
    return outcome, callbacks.left_hanging(outcome, seconds=time.monotonic() - started, timeout=timeout)


def publish_due_callbacks(celery, sessions, windows: dict[str, timedelta]) -> int:
    """The re-publisher's part: send a task for every callback due now (a retry, or a first attempt whose task
    was lost), batch after batch as for jobs (`send_due`). `windows`: the re-publisher's (`republish_windows`).
    Returns how many went out."""
    with sessions() as session:

        def due(with_stale: bool, limit: int) -> list:
            rows = callbacks.due(
                session,
                unsent_after=windows["unsent_after"],
                limit=limit,
                resend_after=windows["stale_after"] if with_stale else None,
            )
            session.commit()
            return rows

        def mark_unsent(job_id) -> None:
            callbacks.mark_unpublished(session, job_id)
            session.commit()

        try:
            return send_due(
                due, lambda job_id: publish_callback(celery, job_id, None), mark_unsent, budget_seconds=10.0
            )
        except BrokerRefused as error:
            log.warning("broker unavailable; callbacks wait for the next round", extra={"error": str(error)})
            return 0
