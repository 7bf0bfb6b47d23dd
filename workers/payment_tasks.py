"""Payment task bodies, registered only on the payment worker's app (`workers/payment_worker.py`).

An event is processed in one transaction (event row locked, payment moved, ledger credited, event marked).
A failure rolls that back, counts the attempt on the event row and retries with exponential backoff; after
PAYMENT_EVENT_MAX_ATTEMPTS the event is dead-lettered (status `dead`) for staff to list and replay.
On a schedule (sent by the `scheduler-payments` process, workers/scheduling.py), the worker also re-publishes
events the broker never got and expires overdue pending payments.
Messages are acknowledged late and requeued if the worker dies, so a SIGKILL mid-credit means the credit
transaction never committed and the redelivery does it once.
"""

from __future__ import annotations

import logging
import uuid

from config.logging import request_id_var
import smartcompute.models  # noqa: F401  (every table, so foreign keys resolve)
from smartcompute import maintenance
from smartcompute.billing import payments, webhooks
from workers.celery_app import EXPIRE_PAYMENTS, PAYMENT_QUEUE, PROCESS_PAYMENT_EVENT, REPUBLISH_PAYMENTS
from workers.payment_worker import app
from workers.publishing import BrokerRefused, publish_payment_event, republish_windows, send_due
from workers.runtime import runtime
from workers.scheduling import one_round_at_a_time

log = logging.getLogger("smartcompute.worker")
MAX_BACKOFF_SECONDS = 300


@app.task(
    name=PROCESS_PAYMENT_EVENT,
    bind=True,
    shared=False,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    max_retries=None,
    soft_time_limit=60,
    time_limit=90,
)
def process_payment_event(self, event_id: str, request_id: str | None = None) -> None:
    request_id_var.set(request_id)
    worker = runtime(app)
    settings = worker.settings
    with worker.engine.connect() as connection:  # every statement is Core: no ORM Session to keep
        try:
            processed = webhooks.process_event(
                connection, uuid.UUID(event_id), tolerance=settings.PAYMENT_AMOUNT_TOLERANCE
            )
        except Exception as error:  # any failure: count it, then retry or dead-letter
            attempts = _count_failure(connection, event_id, error, settings.PAYMENT_EVENT_MAX_ATTEMPTS)
            if attempts is not None and attempts >= settings.PAYMENT_EVENT_MAX_ATTEMPTS:
                log.error("payment event dead-lettered", extra={"event_id": event_id, "error": str(error)})
                return
            countdown = min(MAX_BACKOFF_SECONDS, 2 ** (attempts or 1))
            log.warning(
                "payment event failed; retrying",
                extra={"event_id": event_id, "error": str(error), "attempt": attempts, "retry_in": countdown},
            )
            raise self.retry(countdown=countdown) from None
    log.info(
        "payment event processed" if processed else "payment event already processed", extra={"event_id": event_id}
    )


def _count_failure(connection, event_id: str, error: Exception, max_attempts: int) -> int | None:
    try:
        return webhooks.record_failure(
            connection, uuid.UUID(event_id), f"{type(error).__name__}: {error}", max_attempts=max_attempts
        )
    except Exception:  # the database itself is down: retry without counting
        log.exception("could not record the payment event's failure")
        return None


@app.task(name=REPUBLISH_PAYMENTS, ignore_result=True, shared=False, acks_late=False, soft_time_limit=60, time_limit=90)
def republish_payment_events() -> None:
    """Send again stored events the broker never got (it was down at intake) or lost."""
    worker = runtime(app)
    with one_round_at_a_time(worker.engine, maintenance.REPUBLISH_PAYMENT_EVENTS) as ours:
        if ours:
            _republish_events(worker)


def _republish_events(worker) -> None:
    windows = republish_windows(app, PAYMENT_QUEUE)
    with worker.sessions() as session:

        def due(with_stale: bool, limit: int):
            return webhooks.due_for_publishing(
                session,
                unsent_after=windows["unsent_after"],
                limit=limit,
                stale_after=windows["stale_after"] if with_stale else None,
            )

        try:
            send_due(
                due,
                lambda event_id: publish_payment_event(app, event_id, None),
                lambda event_id: webhooks.mark_unpublished(session, event_id),
            )
        except BrokerRefused as error:
            log.warning("broker unavailable; will retry publishing", extra={"error": str(error)})


@app.task(name=EXPIRE_PAYMENTS, ignore_result=True, shared=False, acks_late=False, soft_time_limit=60, time_limit=90)
def expire_overdue_payments() -> None:
    """Expire pending payments past their deadline that no provider event ended; a lost run is redone next time."""
    worker = runtime(app)
    with one_round_at_a_time(worker.engine, maintenance.EXPIRE_PAYMENTS) as ours:
        if not ours:
            return
        with worker.sessions() as session:
            expired = payments.expire_overdue(session)
    if expired:
        log.info("overdue payments expired", extra={"expired": expired})
