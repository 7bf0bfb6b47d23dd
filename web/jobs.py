"""The job API: submit (202), poll, list and cancel."""
from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, json, request

from config.logging import request_id_var
from smartcompute import engine as analysis_engine, jsoncodec
from smartcompute.accounts import limits
from smartcompute.billing import ledger, prices
from smartcompute.detection.telemetry import InvalidTelemetry
from smartcompute.jobs import callbacks, lifecycle, services
from smartcompute.jobs.models import JOB_TYPES, STATUSES, Job
from smartcompute.jobs.schemas import JobRequest
from web import admission
from web.after_response import publish_after_response
from web.auth import current_principal, requires
from web.billing import insufficient_credits
from web.bodies import read_json
from web.limits import check_job_size, job_admission, quota_exceeded
from web.problems import Problem
from web.replies import query_limit
from web.runtime import db, statement_db, web_runtime
from workers.publishing import publish_callback, publish_job

jobs = Blueprint("jobs", __name__, url_prefix="/v1/jobs")
_POLL_AFTER_SECONDS = "1"


def _timestamp(moment) -> str | None:
    return moment.isoformat() if moment else None


def job_view(job: Job | services.QueuedJob, *, with_result: bool = True,
             callback: dict[str, Any] | None = None) -> dict[str, Any]:
    """A job as the API shows it. `with_result`: the whole job, result and callback; else its summary."""
    view = {
        "id": str(job.id), "type": job.type, "status": job.status, "priority": job.priority,
        "progress": job.progress, "created_at": _timestamp(job.created_at),
        "started_at": _timestamp(job.started_at), "finished_at": _timestamp(job.finished_at),
        "expires_at": _timestamp(job.expires_at), "error": job.error, "host": job.host, "imported": job.imported,
    }
    if with_result:
        view["callback"] = callback
        view["result"] = job.result
    return view


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers=headers)


def _job_uuid(job_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(job_id)
    except ValueError:
        raise Problem(404, "no such job", kind="not-found") from None


def _validate_telemetry(job_type: str, data: dict) -> None:
    try:
        analysis_engine.validate(data, max_points=web_runtime().settings.MAX_POINTS_PER_JOB, job_type=job_type)
    except InvalidTelemetry as error:
        raise Problem(422, "the telemetry cannot be analysed", kind="validation-error",
                      errors=[{"field": field, "message": message} for field, message in error.errors]) from None


@jobs.post("")
@requires("jobs:write")
def submit():
    job_request = read_json(JobRequest)
    data = job_request.data.document()
    _validate_telemetry(job_request.type, data)
    check_job_size(data)
    idempotency_key = request.headers.get("Idempotency-Key")
    if idempotency_key is not None and not 0 < len(idempotency_key) <= 255:
        raise Problem(422, "Idempotency-Key must be 1 to 255 characters", kind="validation-error",
                      errors=[{"field": "Idempotency-Key", "message": "must be 1 to 255 characters"}])
    runtime = web_runtime()
    callback_url = _callback_url(job_request.callback_url, runtime.settings.CALLBACK_PRIVATE_NETWORKS)
    _admit(job_request, idempotency_key)
    try:
        submission = services.submit_job(
            statement_db(), current_principal(), job_type=job_request.type, data=data, priority=job_request.priority,
            retention=timedelta(days=runtime.settings.JOB_RETENTION_DAYS), idempotency_key=idempotency_key,
            request_id=request_id_var.get(),
            fingerprint=_fingerprint(job_request) if idempotency_key else None,
            cost=prices.job_cost(runtime.settings, job_request.type, data), admission=job_admission(),
            callback_url=callback_url,
        )
    except ledger.InsufficientCredits as error:
        raise insufficient_credits(error) from None
    except limits.QuotaExceeded as error:
        raise quota_exceeded(error) from None
    except services.IdempotencyConflict as error:
        raise _idempotency_conflict(error) from None
    if submission.created:
        _publish(submission.job_id, job_request.priority, with_callback=callback_url is not None)
    if submission.job:
        job, callback = submission.job, callbacks.pending_view(callback_url) if callback_url else None
    else:  # an Idempotency-Key replay: the job as it is now
        job = services.get_job(db(), current_principal(), submission.job_id)
        callback = callbacks.view_of(db(), job.id)
    location = f"/v1/jobs/{job.id}"
    return _json(job_view(job, callback=callback), 202, {"Location": location, "Retry-After": _POLL_AFTER_SECONDS})


def _admit(job_request: JobRequest, idempotency_key: str | None) -> None:
    """Refuse a new job while too much work waits for its priority; a repeated request is still answered with
    the job it created."""
    refused = admission.refusal(job_request.priority)
    if refused is None:
        return
    try:
        replay = idempotency_key and services.replay_of(statement_db(), current_principal(), idempotency_key,
                                                        _fingerprint(job_request))
    except services.IdempotencyConflict as error:
        raise _idempotency_conflict(error) from None
    if not replay:
        raise admission.overloaded(refused, job_request.priority)


def _idempotency_conflict(error: services.IdempotencyConflict) -> Problem:
    return Problem(422, str(error), kind="idempotency-conflict",
                   errors=[{"field": "Idempotency-Key", "message": str(error)}])


def _callback_url(url: str | None, allow_private: bool) -> str | None:
    if url is None:
        return None
    try:
        return callbacks.checked_url(url, allow_private=allow_private)
    except callbacks.CallbackUrlError as error:
        raise Problem(422, f"callback_url {error}", kind="validation-error",
                      errors=[{"field": "callback_url", "message": str(error)}]) from None


def _fingerprint(job_request: JobRequest) -> str:
    """What an Idempotency-Key replay must match: the request as parsed, so formatting does not matter."""
    return services.request_fingerprint(job_request.model_dump(mode="json", exclude_none=True))


def _publish(job_id: uuid.UUID, priority: str, with_callback: bool) -> None:
    request_id = request_id_var.get()
    publish_after_response(
        "job", job_id, lambda celery: publish_job(celery, job_id, priority, request_id, with_callback=with_callback),
        lifecycle.mark_unpublished)


@jobs.get("/<job_id>")
@requires("jobs:read")
def show(job_id: str):
    try:
        job = services.get_job_with_result_json(statement_db(), current_principal(), _job_uuid(job_id))
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    headers = {} if lifecycle.is_finished(job.status) else {"Retry-After": _POLL_AFTER_SECONDS}
    # The stored result goes out as PostgreSQL wrote it, spliced in as the view's last member.
    view = {**job_view(job, with_result=False), "callback": callbacks.view(job)}
    body = jsoncodec.dumps_bytes(view)[:-1] + b',"result":' + (
        job.result_json or "null").encode() + b"}"
    return Response(body, mimetype="application/json", headers=headers)


def _query_choice(name: str, choices: tuple[str, ...]) -> str | None:
    value = request.args.get(name)
    if value is not None and value not in choices:
        raise Problem(422, f"{name} must be one of {', '.join(choices)}", kind="validation-error",
                      errors=[{"field": name, "message": f"must be one of {', '.join(choices)}"}])
    return value


@jobs.get("")
@requires("jobs:read")
def index():
    items, next_cursor = services.list_jobs(
        db(), current_principal(), status=_query_choice("status", STATUSES),
        job_type=_query_choice("type", JOB_TYPES), limit=query_limit(default=20), cursor=request.args.get("cursor"),
    )
    return _json({"items": [job_view(job, with_result=False) for job in items], "next_cursor": next_cursor})


@jobs.post("/<job_id>/cancel")
@requires("jobs:write")
def cancel(job_id: str):
    try:
        job = services.cancel_job(db(), current_principal(), _job_uuid(job_id))
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    except lifecycle.JobAlreadyFinished as error:
        raise Problem(409, str(error), kind="job-finished") from None
    callback = callbacks.view_of(db(), job.id)
    if callback is not None:
        _publish_callback(job.id)
    return _json(job_view(job, callback=callback))


@jobs.post("/<job_id>/callback/resend")
@requires("jobs:write")
def resend_callback(job_id: str):
    """Tell the receiver again: after it was down for longer than the retries last, or lost what it got."""
    session = db()
    try:
        job = services.get_job(session, current_principal(), _job_uuid(job_id), with_result=False)
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None
    if not callbacks.resend(session, job.id):
        session.rollback()
        has_callback = callbacks.view_of(session, job.id) is not None
        raise Problem(409, "the job has not finished; its callback is sent when it does" if has_callback
                      else "the job has no callback_url", kind="conflict")
    session.commit()
    _publish_callback(job.id)
    return _json(job_view(job, callback=callbacks.view_of(session, job.id)), 202,
                 {"Location": f"/v1/jobs/{job.id}", "Retry-After": _POLL_AFTER_SECONDS})


def _publish_callback(job_id: uuid.UUID) -> None:
    """After the response; a callback the broker refuses needs no mark: the re-publisher finds it due."""
    request_id = request_id_var.get()
    publish_after_response("callback", job_id, lambda celery: publish_callback(celery, job_id, request_id),
                           lambda session, job_id: None)
