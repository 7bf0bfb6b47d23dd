"""The job API's request and response shapes. The same models validate requests and write the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, FailFast, Field, StringConstraints, Strict

from smartcompute.detection.telemetry import MAX_METRIC_NAME_LENGTH, MAX_METRICS
from smartcompute.jobs.enums import JobStatus, JobType

Priority = Literal["low", "normal", "high", "critical"]
# A JSON number, and only that: a boolean or a numeric string in telemetry is a client's bug, not a value to guess.
Number = Annotated[float, Strict()]
Timestamp = str | Number
MetricName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_METRIC_NAME_LENGTH)]
# Lists stop at their first bad item: pydantic otherwise reports every one, and a 10 MB body of two million bad
# numbers took 18 s and 2.8 GB to refuse.
Numbers = Annotated[list[Number], FailFast()]
_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)


class Connection(BaseModel):
    model_config = _STRICT
    timestamp: Timestamp
    src_ip: str = Field(max_length=64)
    dst_ip: str = Field(max_length=64)
    dst_port: Annotated[int, Strict()] = Field(ge=0, le=65535)
    protocol: str = Field(default="tcp", max_length=16)
    bytes_out: Number = Field(default=0, ge=0)
    bytes_in: Number = Field(default=0, ge=0)


class ProcessSample(BaseModel):
    model_config = _STRICT
    timestamp: Timestamp
    name: str = Field(min_length=1, max_length=255)
    cmdline: str = Field(default="", max_length=8192)
    user: str | None = Field(default=None, max_length=255)
    cpu_percent: Number = Field(default=0, ge=0)
    memory_percent: Number = Field(default=0, ge=0)


class Telemetry(BaseModel):
    """Host telemetry: timestamps (ISO-8601 or epoch seconds) and same-length metrics. Rows are scored in the order
    given; repeated timestamps and rows out of order are accepted and named in the result's warnings."""

    model_config = _STRICT
    timestamps: list[Timestamp] = Field(min_length=1, fail_fast=True)
    metrics: dict[MetricName, Numbers] = Field(min_length=1, max_length=MAX_METRICS)
    host: str | None = Field(default=None, min_length=1, max_length=255)
    connections: list[Connection] | None = Field(default=None, fail_fast=True)
    processes: list[ProcessSample] | None = Field(default=None, fail_fast=True)

    def document(self) -> dict[str, Any]:
        """What `model_dump(mode="json", exclude_none=True)` gives, without copying the number lists: they are
        already plain lists of JSON numbers and strings, and copying thousands of them was a tenth of a POST."""
        document: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, list) and value and isinstance(value[0], BaseModel):
                value = [item.model_dump(mode="json", exclude_none=True) for item in value]
            document[name] = value
        return document


class JobRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: JobType
    data: Telemetry
    priority: Priority = "normal"
    callback_url: str | None = Field(
        default=None,
        max_length=2048,
        description="an http(s) URL to POST to when the job finishes, signed "
        "with the account's callback secret (Standard Webhooks); see GET /v1/account/callback-secret",
    )


class JobError(BaseModel):
    type: str
    message: str
    fields: list[dict[str, str]] | None = None


class JobCallback(BaseModel):
    """Where the job's finish is told, and how far that has got: pending until the receiver answers 2xx,
    failed once the retries (about a day of them) ran out or it answered 410 Gone."""

    url: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None
    last_error: str | None


class FinishedJob(BaseModel):
    id: str
    type: JobType
    status: Literal[JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED]
    finished_at: datetime | None
    error: JobError | None
    url: str = Field(description="the job's path on this API: fetch it, with your credentials, for the result")


class JobFinished(BaseModel):
    """The notification a job's callback_url receives (see `smartcompute.jobs.callbacks.notification`)."""

    type: Literal["job.finished"]
    timestamp: datetime
    data: FinishedJob


class CallbackSecret(BaseModel):
    """The secret that signs the account's job callbacks: verify `webhook-signature` with any Standard Webhooks
    library, or by hand (HMAC-SHA256 of `webhook-id.webhook-timestamp.body`, keyed by the base64 after whsec_)."""

    secret: str
    scheme: Literal["standard-webhooks"]
    signature_version: Literal["v1"]


class JobSummary(BaseModel):
    """A job as listed: everything but its result, which `GET /v1/jobs/{id}` returns."""

    id: str
    type: JobType
    status: JobStatus
    priority: Priority
    progress: float = Field(ge=0, le=1)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime
    error: JobError | None
    host: str | None = Field(default=None, description="the host its data named")
    imported: dict[str, Any] | None = Field(
        default=None,
        description="where a job that ran before SmartCompute came from (`smartcompute import "
        "legacy`): source, table and legacy ids; null for submitted jobs",
    )


class Job(JobSummary):
    """A job with its result (null until it succeeds) and its callback (null when none was given)."""

    result: dict[str, Any] | None
    callback: JobCallback | None = None


class JobList(BaseModel):
    items: list[JobSummary]
    next_cursor: str | None


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class Token(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
