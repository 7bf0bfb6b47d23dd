"""The job API: submit (202), poll, list, cancel, and send a finished job's callback again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint
from pydantic import BaseModel, Field

from config.logging import request_id_var
from smartcompute import analysis
from smartcompute.accounts import limits
from smartcompute.billing import ledger, prices
from smartcompute.detection.telemetry import InvalidTelemetry
from smartcompute.jobs import callbacks, lifecycle, services
from smartcompute.jobs.models import Job as JobRow
from smartcompute.jobs.enums import JobStatus, JobType
from smartcompute.jobs.schemas import Job, JobFinished, JobList, JobRequest, JobSummary
from web import admission
from web.access import scope
from web.after_response import publish_after_response
from web.auth import current_principal
from web.billing import insufficient_credits
from web.limits import check_job_size, job_admission, quota_exceeded
from web.parameters import Cursor, PageSize
from web.problems import Problem
from web.replies import path_uuid
from web.routes import Answer, Callback, Reply, operation
from web.runtime import db, statement_db, web_runtime
from workers.publishing import publish_callback, publish_job

jobs = Blueprint("jobs", __name__, url_prefix="/v1/jobs")
_POLL_AFTER_SECONDS = "1"
_POLL = {"Location": "The job's URL", "Retry-After": "Seconds to wait before polling"}
_NO_JOB = "No such job"


class JobFilters(BaseModel):
    status: JobStatus | None = None
    type: JobType | None = None
    limit: PageSize = 20
    cursor: Cursor = None


class SubmitHeaders(BaseModel):
    idempotency_key: str | None = Field(
        default=None,
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="a repeat of a request with the same key gets the job the first one made",
    )


_FINISHED = Callback(
    "jobFinished",
    "{$request.body#/callback_url}",
    "The job finished (sent when the job has a callback_url)",
    "Signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature) with the secret from "
    "GET /v1/account/callback-secret.",
    JobFinished,
    {"2XX": "Delivered; anything else is retried for about a day"},
)


def _summary(job: JobRow | services.QueuedJob | Any) -> dict[str, Any]:
    return {
        "id": str(job.id),
        "type": job.type,
        "status": job.status,
        "priority": job.priority,
        "progress": job.progress,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "expires_at": job.expires_at,
        "error": job.error,
        "host": job.host,
        "imported": job.imported,
    }


def _whole(job: JobRow | services.QueuedJob, callback: dict[str, Any] | None) -> Job:
    return Job(**_summary(job), result=job.result, callback=callback)


def _validate_telemetry(job_type: str, data: dict) -> None:
    try:
        analysis.validate(data, max_points=web_runtime().settings.MAX_POINTS_PER_JOB, job_type=job_type)
    except InvalidTelemetry as error:
        raise Problem(
            422,
            "the telemetry cannot be analysed",
            kind="validation-error",
            errors=[{"field": field, "message": message} for field, message in error.errors],
        ) from None


@operation(
    jobs,
    "POST",
    "",
    "submitJob",
    "Submit an analysis job",
    access=scope("jobs:write"),
    body=JobRequest,
    headers=SubmitHeaders,
    callbacks=(_FINISHED,),
    responses={
        202: Reply("Accepted; poll the Location", Job, _POLL),
        402: "The account's credits do not cover the job",
        422: "Schema or telemetry violation",
        429: "Rate limit or quota exceeded; see Retry-After",
        503: "Too much work is waiting for this priority, or the database or broker is unavailable; see Retry-After",
    },
)
def submit(body: JobRequest, headers: SubmitHeaders) -> Answer:
    data = body.data.document()
    _validate_telemetry(body.type, data)
    check_job_size(data)
    idempotency_key = headers.idempotency_key
    runtime = web_runtime()
    callback_url = _callback_url(body.callback_url, runtime.settings.CALLBACK_PRIVATE_NETWORKS)
    _admit(body, idempotency_key)
    try:
        submission = services.submit_job(
            statement_db(),
            current_principal(),
            job_type=body.type,
            data=data,
            priority=body.priority,
            retention=timedelta(days=runtime.settings.JOB_RETENTION_DAYS),
            idempotency_key=idempotency_key,
            request_id=request_id_var.get(),
            fingerprint=_fingerprint(body) if idempotency_key else None,
            cost=prices.job_cost(runtime.settings, body.type, data),
            admission=job_admission(),
            callback_url=callback_url,
        )
    except ledger.InsufficientCredits as error:
        raise insufficient_credits(error) from None
    except limits.QuotaExceeded as error:
        raise quota_exceeded(error) from None
    except services.IdempotencyConflict as error:
        raise _idempotency_conflict(error) from None
    if submission.created:
        _publish(submission.job_id, body.priority, with_callback=callback_url is not None)
    if submission.job:
        job, callback = submission.job, callbacks.pending_view(callback_url) if callback_url else None
    else:  # an Idempotency-Key replay: the job as it is now
        job = services.get_job(db(), current_principal(), submission.job_id)
        callback = callbacks.view_of(db(), job.id)
    return Answer(_whole(job, callback), {"Location": f"/v1/jobs/{job.id}", "Retry-After": _POLL_AFTER_SECONDS})


def _admit(job_request: JobRequest, idempotency_key: str | None) -> None:
    """Refuse a new job while too much work waits for its priority; a repeated request is still answered with
    the job it created."""
    refused = admission.refusal(job_request.priority)
    if refused is None:
        return
    try:
        replay = idempotency_key and services.replay_of(
            statement_db(), current_principal(), idempotency_key, _fingerprint(job_request)
        )
    except services.IdempotencyConflict as error:
        raise _idempotency_conflict(error) from None
    if not replay:
        raise admission.overloaded(refused, job_request.priority)


def _idempotency_conflict(error: services.IdempotencyConflict) -> Problem:
    return Problem(
        422, str(error), kind="idempotency-conflict", errors=[{"field": "Idempotency-Key", "message": str(error)}]
    )


def _callback_url(url: str | None, allow_private: bool) -> str | None:
    if url is None:
        return None
    try:
        return callbacks.checked_url(url, allow_private=allow_private)
    except callbacks.CallbackUrlError as error:
        raise Problem(
            422,
            f"callback_url {error}",
            kind="validation-error",
            errors=[{"field": "callback_url", "message": str(error)}],
        ) from None


def _fingerprint(job_request: JobRequest) -> str:
    """What an Idempotency-Key replay must match: the request as parsed, so formatting does not matter."""
    return services.request_fingerprint(job_request.model_dump(mode="json", exclude_none=True))


def _publish(job_id: uuid.UUID, priority: str, with_callback: bool) -> None:
    request_id = request_id_var.get()
    publish_after_response(
        "job",
        job_id,
        lambda celery: publish_job(celery, job_id, priority, request_id, with_callback=with_callback),
        lifecycle.mark_unpublished,
    )


@operation(
    jobs,
    "GET",
    "/<job_id>",
    "getJob",
    "Poll a job",
    access=scope("jobs:read"),
    path={"job_id": uuid.UUID},
    responses={
        200: Reply(
            "The job", Job, {"Retry-After": "Seconds to wait before polling again, while it is queued or running"}
        ),
        404: _NO_JOB,
    },
)
def show(job_id: str) -> Answer:
    try:
        job = services.get_job_with_result_json(statement_db(), current_principal(), path_uuid(job_id, "job"))
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    headers = {} if lifecycle.is_finished(job.status) else {"Retry-After": _POLL_AFTER_SECONDS}
    # The stored result goes out as PostgreSQL wrote it: parsing and writing it again would cost more than the rest.
    return Answer(
        Job(**_summary(job), result=None, callback=callbacks.view(job)),
        headers,
        json_members={"result": job.result_json or "null"},
    )


@operation(
    jobs,
    "GET",
    "",
    "listJobs",
    "List jobs, newest first",
    access=scope("jobs:read"),
    query=JobFilters,
    responses={200: Reply("A page of jobs", JobList)},
)
def index(query: JobFilters) -> JobList:
    items, next_cursor = services.list_jobs(
        db(), current_principal(), status=query.status, job_type=query.type, limit=query.limit, cursor=query.cursor
    )
    return JobList(items=[JobSummary(**_summary(job)) for job in items], next_cursor=next_cursor)


@operation(
    jobs,
    "POST",
    "/<job_id>/cancel",
    "cancelJob",
    "Cancel a queued or running job",
    access=scope("jobs:write"),
    path={"job_id": uuid.UUID},
    responses={200: Reply("The canceled job", Job), 404: _NO_JOB, 409: "The job already finished"},
)
def cancel(job_id: str) -> Job:
    try:
        job = services.cancel_job(db(), current_principal(), path_uuid(job_id, "job"))
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    except lifecycle.JobAlreadyFinished as error:
        raise Problem(409, str(error), kind="job-finished") from None
    callback = callbacks.view_of(db(), job.id)
    if callback is not None:
        _publish_callback(job.id)
    return _whole(job, callback)


@operation(
    jobs,
    "POST",
    "/<job_id>/callback/resend",
    "resendJobCallback",
    "Send a finished job's callback again, with a fresh retry schedule",
    access=scope("jobs:write"),
    path={"job_id": uuid.UUID},
    responses={
        202: Reply("The callback is pending again", Job, _POLL),
        404: _NO_JOB,
        409: "The job has no callback_url, or has not finished",
    },
)
def resend_callback(job_id: str) -> Answer:
    """Tell the receiver again: after it was down for longer than the retries last, or lost what it got."""
    session = db()
    try:
        job = services.get_job(session, current_principal(), path_uuid(job_id, "job"), with_result=False)
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    if not callbacks.resend(session, job.id):
        session.rollback()
        has_callback = callbacks.view_of(session, job.id) is not None
        raise Problem(
            409,
            "the job has not finished; its callback is sent when it does"
            if has_callback
            else "the job has no callback_url",
            kind="conflict",
        )
    session.commit()
    _publish_callback(job.id)
    return Answer(
        _whole(job, callbacks.view_of(session, job.id)),
        {"Location": f"/v1/jobs/{job.id}", "Retry-After": _POLL_AFTER_SECONDS},
    )


def _publish_callback(job_id: uuid.UUID) -> None:
    """After the response; a callback the broker refuses needs no mark: the re-publisher finds it due."""
    request_id = request_id_var.get()
    publish_after_response(
        "callback", job_id, lambda celery: publish_callback(celery, job_id, request_id), lambda session, job_id: None
    )
