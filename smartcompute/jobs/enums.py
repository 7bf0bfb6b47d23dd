"""The values a job's status and type can take, each named once.

The model's CHECK constraints, the API's schemas and the SQL the services write are derived from these, so a
value cannot be spelled differently in one of them. The values are the database's: changing one needs a migration.
"""

from __future__ import annotations

from enum import StrEnum
from collections.abc import Iterable


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class JobType(StrEnum):
    ANOMALY_DETECTION = "anomaly_detection"
    THREAT_ANALYSIS = "threat_analysis"
    PERFORMANCE_ANALYSIS = "performance_analysis"


# A job in one of these may still change; one in the others never will.
LIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


def sql_list(values: Iterable[str]) -> str:
    """`('a', 'b')`: values for an SQL `IN`, written as the CHECK constraints and indexes have them."""
    return "(" + ", ".join(f"'{value}'" for value in values) + ")"
