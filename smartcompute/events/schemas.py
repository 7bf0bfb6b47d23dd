"""What one server-sent event holds, for the OpenAPI document (the stream writes the stored JSON as it is)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from smartcompute.jobs.enums import JobStatus, JobType


class JobStatusData(BaseModel):
    """`job.status`: a job was submitted, or its status changed (queued, running, succeeded, failed, canceled)."""

    job_id: uuid.UUID
    status: JobStatus
    type: JobType
    host: str | None
    updated_at: datetime


class IncidentData(BaseModel):
    """`incident.opened` / `incident.closed`: an anomaly_detection job's result holds an incident still open at
    its last sample, or one that ended (docs/detection.md describes incidents)."""

    job_id: uuid.UUID
    metric: str = Field(description="the first of `metrics`")
    metrics: list[str] = Field(description="every metric the incident spans")
    kind: str
    severity: str
    start: str
    end: str | None = Field(description="null while the incident is open")


class ResetData(BaseModel):
    """`reset`: the stream cannot resume from the Last-Event-ID sent (older than the retention window, or not one
    of this API's); fetch the state again (GET /v1/jobs), then carry on with the stream."""

    reason: Literal["expired", "unknown"]
    detail: str


class StreamedEvent(BaseModel):
    """One server-sent event: `id` (pass it back as Last-Event-ID), `event` (its name) and `data` (JSON)."""

    id: str = Field(description="opaque and increasing; a client reconnecting sends the last one it saw")
    event: Literal["job.status", "incident.opened", "incident.closed", "reset"]
    data: JobStatusData | IncidentData | ResetData
