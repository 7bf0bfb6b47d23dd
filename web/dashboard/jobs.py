"""The jobs pages: the list with its filters and pages, one job with its charts or findings, its cancel and
resend-callback buttons, and its result as JSON and its scores as CSV."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from flask import request
from werkzeug.wrappers import Response

from smartcompute import jsoncodec
from smartcompute.jobs import callbacks, lifecycle, services
from smartcompute.jobs.models import Job as JobRow
from smartcompute.jobs.enums import JobStatus, JobType
from web import jobs as jobs_api
from web.dashboard.charts import job_charts
from web.dashboard.pages import api, back, check_access, dashboard, page, principal
from web.problems import Problem
from web.replies import path_uuid
from web.routes import validated
from web.runtime import db

STATUSES = tuple(JobStatus)
JOB_TYPES = tuple(JobType)


def _filters() -> dict[str, str]:
    return {name: request.args[name] for name in ("status", "type", "cursor") if request.args.get(name)}


@dashboard.get("/jobs")
def jobs() -> str:
    filters = _filters()
    listed = api(jobs_api.index, query=validated(jobs_api.JobFilters, {**filters, "limit": 25}))
    return page(
        "jobs.html",
        jobs=listed.items,
        next_cursor=listed.next_cursor,
        filters=filters,
        statuses=STATUSES,
        job_types=JOB_TYPES,
    )


def _job(job_id: str, *, with_result: bool = True) -> JobRow:
    check_access(jobs_api.show)
    try:
        return services.get_job(db(), principal(), path_uuid(job_id, "job"), with_result=with_result)
    except services.JobNotFound:
        raise Problem(404, "no such job", kind="not-found") from None


def _findings_by_category(result: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in result.get("findings") or []:
        grouped[finding.get("category", "other")].append(finding)
    return dict(grouped)


@dashboard.get("/jobs/<job_id>")
def job(job_id: str) -> str:
    row = _job(job_id)
    result = row.result or {}
    charts = job_charts(row.data or {}, result) if row.type == "anomaly_detection" and row.result else []
    return page(
        "job.html",
        job=row,
        result=result,
        charts=charts,
        findings=_findings_by_category(result),
        finished=lifecycle.is_finished(row.status),
        callback=callbacks.view_of(db(), row.id),
    )


@dashboard.post("/jobs/<job_id>/cancel")
def cancel_job(job_id: str) -> Response:
    api(jobs_api.cancel, job_id=job_id)
    return back("dashboard.job", job_id=job_id)


@dashboard.post("/jobs/<job_id>/callback/resend")
def resend_callback(job_id: str) -> Response:
    api(jobs_api.resend_callback, job_id=job_id)
    return back("dashboard.job", job_id=job_id)


def _download(body: str | bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@dashboard.get("/jobs/<job_id>/result.json")
def result_json(job_id: str) -> Response:
    row = _job(job_id)
    if row.result is None:
        raise Problem(409, "the job has no result yet", kind="conflict")
    return _download(jsoncodec.dumps_bytes(row.result), "application/json", f"job-{row.id}-result.json")


@dashboard.get("/jobs/<job_id>/scores.csv")
def scores_csv(job_id: str) -> Response:
    """One row per sample: its timestamp, then each metric's score."""
    row = _job(job_id)
    scores = (row.result or {}).get("scores")
    if not scores:
        raise Problem(409, "the job has no scores (only finished anomaly_detection jobs have them)", kind="conflict")
    metrics = list(scores)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", *metrics])
    for index, timestamp in enumerate((row.data or {}).get("timestamps") or []):
        writer.writerow([timestamp, *(scores[metric][index] for metric in metrics)])
    return _download(out.getvalue(), "text/csv", f"job-{row.id}-scores.csv")
