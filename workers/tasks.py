"""Task bodies: thin edges that load rows by id, call the domain, and record the outcome in PostgreSQL."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from config.logging import job_id_var, request_id_var
from smartcompute import analysis, maintenance
from smartcompute.db import utcnow
from smartcompute.detection.telemetry import InvalidTelemetry
from smartcompute.events import log as event_log
from smartcompute.jobs import lifecycle
from smartcompute.jobs.models import HostBaseline, Job
from workers import app
from workers.callback_tasks import publish_due_callbacks
from workers.celery_app import CORE_QUEUE, REPUBLISH, RUN_ANALYSIS
from workers.publishing import BrokerRefused, publish_callback, publish_job, republish_windows, send_due
from workers.runtime import (
    JobRun,
    job_lock_is_free,
    job_lock_key,
    job_run,
    lock_host,
    main_process_connection,
    runtime,
)
from workers.scheduling import one_round_at_a_time

log = logging.getLogger("smartcompute.worker")
_PROGRESS_EVERY_SECONDS = 1.0
_RECHECK_SECONDS = 5


# A database that cannot be reached (restarting, failing over, full) is waited out, with exponential backoff
# and full jitter up to 30 s apart: 50 retries span about 11 minutes. A job claimed before the outage is claimed
# again by the retry; one given up on is queued again by the sweep (`requeue_abandoned_jobs`).
_DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
_DATABASE_RETRIES = 50


def _fail_at_hard_time_limit(task, exc, task_id, args, kwargs, einfo) -> None:
    """Celery's failure hook. At the hard time limit it runs in the worker's main process, which has just killed
    the job's process (stuck where the soft limit could not interrupt it, such as a wait on a lock); the job
    fails then, not when the sweep finds it (`requeue_abandoned_jobs`). Other failures need nothing here."""
    if not isinstance(exc, TimeLimitExceeded) or not args:
        return
    job_uuid = uuid.UUID(args[0])
    try:
        with main_process_connection(app) as connection:  # the re-publisher sends the job's callback
            lifecycle.fail(
                connection,
                job_uuid,
                {"type": "time_limit", "message": "the analysis took longer than the time limit and was stopped"},
            )
            connection.commit()
    except Exception:  # the database is unreachable: the sweep queues the job again later
        log.exception("could not record the job's time limit", extra={"job_id": str(job_uuid)})


@app.task(
    name=RUN_ANALYSIS,
    bind=True,
    shared=False,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    autoretry_for=_DATABASE_UNAVAILABLE,
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=_DATABASE_RETRIES,
    on_failure=_fail_at_hard_time_limit,
)
def run_analysis(self, job_id: str, request_id: str | None = None, callback: bool = False) -> None:
    """Run one job. Safe to deliver any number of times: only one delivery ever stores a result. `callback`:
    the job has a callback_url, whose task this sends once the job is finished."""
    job_uuid = uuid.UUID(job_id)
    job_id_var.set(job_id)
    request_id_var.set(request_id)
    worker = runtime(app)
    with job_run(worker.job_engine) as run:
        try:
            claimed = lifecycle.claim(
                run.connection, job_uuid, max_attempts=worker.settings.JOB_MAX_ATTEMPTS, lock_key=job_lock_key(job_uuid)
            )
        except lifecycle.JobHeld:
            _recheck_later(self, worker, job_uuid)
            return
        if claimed is None:
            log.info("job is finished or canceled; nothing to do")
            return
        log.info("job started", extra={"job_type": claimed.type, "attempt": claimed.attempt})
        _run_claimed(run, claimed, worker.settings.MAX_POINTS_PER_JOB)
    if callback:
        _tell_customer(job_uuid, request_id)


def _recheck_later(task, worker, job_id: uuid.UUID) -> None:
    """Another process holds the job. It is alive, or it just died and PostgreSQL has not yet freed its lock:
    look again later, until the job is finished or the holder cannot still be within its time limit."""
    with worker.sessions() as session:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
    if status is None or lifecycle.is_finished(status):
        return
    log.info("job is held by another worker; checking again later", extra={"status": status})
    limit = worker.settings.JOB_HARD_TIME_LIMIT + worker.settings.BROKER_VISIBILITY_TIMEOUT
    raise task.retry(countdown=_RECHECK_SECONDS, max_retries=limit // _RECHECK_SECONDS + 1)


def _run_claimed(run: JobRun, claimed: lifecycle.ClaimedJob, max_points: int) -> None:
    data = claimed.data
    learns = bool(analysis.learns_baseline(claimed.type) and claimed.host)
    baseline = None
    if learns:
        lock_host(run, claimed.account_id, claimed.host)
        baseline = run.connection.scalar(
            select(HostBaseline.state).where(
                HostBaseline.account_id == claimed.account_id, HostBaseline.host == claimed.host
            )
        )
    started = time.monotonic()
    try:
        outcome = analysis.analyze(
            claimed.type,
            data,
            max_points=max_points,
            baseline=baseline,
            on_progress=_progress_reporter(run, claimed.id),
            learn=learns,
        )
    except InvalidTelemetry as error:
        _finish_failed(
            run,
            claimed.id,
            "invalid_data",
            str(error),
            [{"field": field, "message": message} for field, message in error.errors],
        )
        return
    except SoftTimeLimitExceeded:
        _finish_failed(run, claimed.id, "time_limit", "the analysis took longer than the time limit")
        return
    except (OperationalError, DBAPIError):
        raise
    except Exception:
        log.exception("analysis crashed")
        _finish_failed(run, claimed.id, "internal_error", "the analysis failed unexpectedly; it was logged")
        return
    _finish_succeeded(run, claimed, outcome)
    log.info("job finished", extra={"seconds": round(time.monotonic() - started, 3)})


def _progress_reporter(run: JobRun, job_id: uuid.UUID):
    last = [time.monotonic()]  # jobs shorter than the interval write no progress at all

    def report(fraction: float) -> None:
        now = time.monotonic()
        if now - last[0] >= _PROGRESS_EVERY_SECONDS:
            last[0] = now
            lifecycle.report_progress(run.connection, job_id, fraction)  # autocommit: visible at once

    return report


def _finish_succeeded(run: JobRun, claimed: lifecycle.ClaimedJob, outcome: analysis.Analysis) -> None:
    """Result and learned baseline commit together (one statement), or not at all."""
    stored = lifecycle.succeed(
        run.connection, claimed.id, outcome.result, baseline=outcome.baseline, unlock_key=job_lock_key(claimed.id)
    )
    run.job_lock_released = True
    if not stored:
        log.info("job was canceled while running; its result is dropped")


def _finish_failed(run: JobRun, job_id: uuid.UUID, kind: str, message: str, fields: list | None = None) -> None:
    error = {"type": kind, "message": message}
    if fields:
        error["fields"] = fields
    lifecycle.fail(run.connection, job_id, error, unlock_key=job_lock_key(job_id))
    run.job_lock_released = True
    log.warning("job failed", extra={"error_type": kind, "error": message})


def _tell_customer(job_id: uuid.UUID, request_id: str | None) -> None:
    """Send the job's callback task once its finish has committed. If the job was not finished after all (its
    delivery was a duplicate), the task finds nothing due; a task the broker refuses is sent by the
    re-publisher instead (`publish_due_callbacks`)."""
    try:
        publish_callback(app, job_id, request_id)
    except Exception as error:
        log.warning("broker unavailable; the callback is left for the re-publisher", extra={"error": str(error)})


@app.task(name=REPUBLISH, ignore_result=True, shared=False, acks_late=False, soft_time_limit=60, time_limit=90)
def republish_waiting_work() -> None:
    """Send again jobs the broker never got or lost, fail jobs killed at the time limit, delete expired jobs.

    Sent by the `scheduler` process (workers/scheduling.py), one round at a time. Payment events are re-sent by
    the payment worker's own schedule (workers/payment_tasks.py)."""
    worker = runtime(app)
    with one_round_at_a_time(worker.engine, maintenance.REPUBLISH_JOBS) as ours:
        if ours:
            _republish_round(worker)


def _republish_round(worker) -> None:
    windows = republish_windows(app, CORE_QUEUE)
    republish_jobs(app, worker.sessions, windows)
    settings = worker.settings
    # Only past the hard time limit and the broker's redelivery delay can no delivery still be running the job or
    # be about to; the margin covers clocks and a slow round.
    requeue_abandoned_jobs(
        worker.sessions,
        abandoned_after=timedelta(seconds=settings.JOB_HARD_TIME_LIMIT + settings.BROKER_VISIBILITY_TIMEOUT + 60),
    )
    publish_due_callbacks(app, worker.sessions, windows)
    purge_expired_jobs(worker.sessions)
    prune_events(worker.sessions, timedelta(hours=settings.EVENT_RETENTION_HOURS))


_PURGE_BATCH = 1000
_PURGE_BUDGET_SECONDS = 10.0  # of the round's 60 s soft time limit (workers/publishing.RESEND_BUDGET_SECONDS)


def purge_expired_jobs(sessions) -> int:
    """Delete finished jobs past their retention, a batch per transaction, until none is left or the budget is
    spent: one batch a round (1,000 every 15 s) fell behind an install finishing more than 67 jobs a second,
    and the table grew for ever."""
    purged = _in_batches(sessions, lambda session: lifecycle.purge_expired(session, limit=_PURGE_BATCH))
    if purged:
        log.info("expired jobs deleted", extra={"count": purged})
    return purged


def prune_events(sessions, retention: timedelta) -> int:
    """Delete events past their retention (EVENT_RETENTION_HOURS) the same way, within the same budget."""

    def batch(session) -> int:
        deleted = event_log.prune(session, retention, limit=_PURGE_BATCH)
        session.commit()
        return deleted

    pruned = _in_batches(sessions, batch)
    if pruned:
        log.info("events past their retention deleted", extra={"count": pruned})
    return pruned


def _in_batches(sessions, delete_batch) -> int:
    """Run `delete_batch` (which commits and says how many rows it deleted) until a batch comes back short or
    the budget is spent; how many in all."""
    deadline, deleted = time.monotonic() + _PURGE_BUDGET_SECONDS, 0
    while True:
        with sessions() as session:
            count = delete_batch(session)
        deleted += count
        if count < _PURGE_BATCH or time.monotonic() > deadline:
            return deleted


def republish_jobs(celery, sessions, windows: dict[str, timedelta]) -> int:
    """Send the queued jobs the broker never got or lost (`send_due`); how many went out."""

    def send(row) -> None:
        job_id, priority, request_id, with_callback = row
        publish_job(celery, job_id, priority, request_id, with_callback=with_callback)

    with sessions() as session:

        def due(with_stale: bool, limit: int):
            return lifecycle.due_for_publishing(
                session,
                unsent_after=windows["unsent_after"],
                limit=limit,
                stale_after=windows["stale_after"] if with_stale else None,
            )

        try:
            sent = send_due(due, send, lambda row: lifecycle.mark_unpublished(session, row[0]))
        except BrokerRefused as error:
            log.warning("broker unavailable; will retry publishing", extra={"error": str(error)})
            return 0
    if sent:
        log.info("queued jobs sent again", extra={"count": sent})
    return sent


def requeue_abandoned_jobs(sessions, *, abandoned_after: timedelta) -> int:
    """Queue again running jobs that no worker holds, claimed longer than `abandoned_after` ago: their delivery
    is gone (it gave up on an unreachable database, or its worker died and the broker lost the message), so
    nothing else would ever finish them. Returns how many."""
    requeued, claimed_before = 0, utcnow() - abandoned_after
    with sessions() as session:
        for job_id in lifecycle.abandoned(session, claimed_before=claimed_before):
            if job_lock_is_free(session, job_id) and lifecycle.requeue_abandoned(
                session, job_id, claimed_before=claimed_before
            ):
                requeued += 1
                log.warning("a running job lost its delivery; it is queued again", extra={"job_id": str(job_id)})
            session.commit()
    return requeued
