"""The hosts API's response shapes (they write the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class HostJob(BaseModel):
    id: str
    url: str
    finished_at: datetime | None


class HostSummary(BaseModel):
    """A host the account knows: described by an operator (attributes, where it was imported from), or learned
    from its telemetry (its baseline and the latest job that updated it)."""

    name: str
    attributes: dict[str, Any] = Field(
        description="what an operator recorded of the machine, such as its hardware from the legacy SmartCompute"
    )
    imported: dict[str, Any] | None = Field(description="where the host was imported from; null otherwise")
    baseline_updated_at: datetime | None = Field(description="when its learned baseline last changed")
    last_job: HostJob | None = Field(description="the latest anomaly_detection job that updated its baseline")


class Host(HostSummary):
    open_incidents: list[dict[str, Any]] = Field(
        description="the incidents still open at the end of its latest anomaly_detection job (see the job's "
        "result for their fields)"
    )


class HostList(BaseModel):
    items: list[HostSummary]
    next_cursor: str | None
