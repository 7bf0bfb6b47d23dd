"""Submitting a job from the dashboard: a CSV (`timestamp,metric...`) or JSON telemetry file, a host, a type
and a priority. The file becomes the API's own job request and goes through `POST /v1/jobs`'s view, so its
checks, price, quotas and admission are the API's; its problems are shown beside the form, field by field.
"""

from __future__ import annotations

import csv
import io
from typing import Any, get_args

from flask import flash, jsonify, request
from werkzeug.wrappers import Response

from smartcompute import jsoncodec
from smartcompute.billing import prices
from smartcompute.jobs.schemas import JobRequest, Priority
from web import jobs as jobs_api
from web.dashboard.jobs import JOB_TYPES
from web.dashboard.pages import api, back, check_access, dashboard, page
from web.problems import Problem
from web.routes import validated
from web.runtime import web_runtime

PRIORITIES = get_args(Priority)


def _refused(field: str, message: str) -> Problem:
    return Problem(422, f"{field}: {message}", kind="validation-error", errors=[{"field": field, "message": message}])


def _timestamp(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


def _number(text: str, line: int, column: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise _refused("file", f"line {line}: {column} {text[:40]!r} is not a number") from None


def telemetry_from_csv(text: str) -> dict[str, Any]:
    """`timestamp,metric...` with a header line: one metric per further column."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    header = [name.strip() for name in rows[0]] if rows else []
    if len(header) < 2 or header[0] != "timestamp":
        raise _refused("file", "line 1: the header must be timestamp followed by one column per metric")
    metrics: dict[str, list[float]] = {name: [] for name in header[1:]}
    timestamps: list[str | float] = []
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise _refused("file", f"line {line}: expected {len(header)} columns, found {len(row)}")
        timestamps.append(_timestamp(row[0].strip()))
        for name, cell in zip(header[1:], row[1:]):
            metrics[name].append(_number(cell.strip(), line, name))
    return {"timestamps": timestamps, "metrics": metrics}


def _telemetry_from_json(text: str) -> dict[str, Any]:
    try:
        document = jsoncodec.loads(text)
    except ValueError as error:
        raise _refused("file", f"not JSON: {error}") from None
    if isinstance(document, dict) and isinstance(document.get("data"), dict):
        document = document["data"]  # a whole job request, as sent to the API
    if not isinstance(document, dict):
        raise _refused("file", "the JSON must be an object with timestamps and metrics")
    return document


def _telemetry() -> dict[str, Any]:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise _refused("file", "choose a CSV or JSON file")
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _refused("file", "the file is not UTF-8 text") from None
    is_json = upload.filename.lower().endswith(".json") or text.lstrip().startswith(("{", "["))
    data = _telemetry_from_json(text) if is_json else telemetry_from_csv(text)
    host = request.form.get("host", "").strip()
    if host:
        data["host"] = host
    return data


def _job_request() -> JobRequest:
    return validated(
        JobRequest,
        {
            "type": request.form.get("type", ""),
            "data": _telemetry(),
            "priority": request.form.get("priority") or "normal",
        },
    )


def _form(problem: Problem | None = None) -> str:
    return page("submit.html", job_types=JOB_TYPES, priorities=PRIORITIES, problem=problem, form=request.form)


@dashboard.get("/submit")
def submit_form() -> str:
    check_access(jobs_api.submit)
    return _form()


@dashboard.post("/submit/quote")
def quote() -> Response:
    """What the chosen file would cost, before it is sent (the form's script asks as soon as a file is chosen)."""
    check_access(jobs_api.submit)
    try:
        body = _job_request()
    except Problem as problem:
        return jsonify(problem=problem.detail, errors=problem.errors or [])
    data = body.data.document()
    return jsonify(points=prices.job_points(data), cost=prices.job_cost(web_runtime().settings, body.type, data))


@dashboard.post("/submit")
def submit() -> Response | tuple[str, int]:
    check_access(jobs_api.submit)
    try:
        job = api(jobs_api.submit, body=_job_request(), headers=jobs_api.SubmitHeaders())
    except Problem as problem:
        return _form(problem), problem.status
    flash(f"Job {job.id} submitted: {job.type}, {job.priority} priority.")
    return back("dashboard.jobs")
