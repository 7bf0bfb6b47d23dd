"""Writing an import plan in one transaction: hosts, seeded baselines and finished jobs, each only if no earlier
import wrote it (its key, its host), so importing again adds nothing."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from smartcompute.hosts.models import Host
from smartcompute.ingest.legacy.plan import ImportPlan, PlannedJob
from smartcompute.jobs.enums import JobStatus
from smartcompute.jobs.models import HostBaseline, Job

JOBS_PER_STATEMENT = 50  # a day of 1-minute samples is some 60 kB of JSON per job


@dataclass
class Outcome:
    hosts_new: int = 0
    hosts_known: int = 0
    baselines_seeded: int = 0
    baselines_kept: int = 0  # the host already had a baseline (learned from its jobs, or seeded before)
    jobs_new: Counter = field(default_factory=Counter)
    jobs_known: Counter = field(default_factory=Counter)
    samples_new: int = 0
    incidents_new: int = 0


def write_plan(
    session: Session, plan: ImportPlan, *, account_id: uuid.UUID, user_id: uuid.UUID, keep_days: int, now: datetime
) -> Outcome:
    """Everything is written in the session's transaction; the caller commits (or rolls back a dry run)."""
    outcome = Outcome()
    stamp = {"imported_at": now.isoformat()}
    hosts = [
        {
            "account_id": account_id,
            "name": host.name,
            "attributes": host.attributes,
            "created_at": now,
            "updated_at": now,
            "imported": {
                **host.imported,
                **stamp,
                **({"baseline": plan.baselines[host.name].seeded_from} if host.name in plan.baselines else {}),
            },
        }
        for host in plan.hosts.values()
    ]
    if hosts:
        created = session.scalars(insert(Host).values(hosts).on_conflict_do_nothing().returning(Host.name)).all()
        outcome.hosts_new, outcome.hosts_known = len(created), len(hosts) - len(created)
    baselines = [
        {"account_id": account_id, "host": seed.host, "state": seed.state, "job_id": None, "updated_at": now}
        for seed in plan.baselines.values()
    ]
    if baselines:
        seeded = session.scalars(
            insert(HostBaseline).values(baselines).on_conflict_do_nothing().returning(HostBaseline.host)
        ).all()
        outcome.baselines_seeded, outcome.baselines_kept = len(seeded), len(baselines) - len(seeded)
    for first in range(0, len(plan.jobs), JOBS_PER_STATEMENT):
        batch = plan.jobs[first : first + JOBS_PER_STATEMENT]
        rows = [_job_row(job, account_id, user_id, now, keep_days, stamp) for job in batch]
        written = set(
            session.scalars(
                insert(Job)
                .values(rows)
                .on_conflict_do_nothing(constraint="uq_jobs_account_idempotency_key")
                .returning(Job.idempotency_key)
            ).all()
        )
        for job in batch:
            if job.key in written:
                outcome.jobs_new[job.job_type] += 1
                outcome.samples_new += job.samples
                outcome.incidents_new += job.incidents
            else:
                outcome.jobs_known[job.job_type] += 1
    return outcome


def _job_row(
    job: PlannedJob, account_id: uuid.UUID, user_id: uuid.UUID, now: datetime, keep_days: int, stamp: dict[str, Any]
) -> dict[str, Any]:
    """A finished job as a worker would have left it; it held and charged no credits, and counts toward no
    quota. It is kept `keep_days` from the import, like any job from when it finished."""
    started = datetime.fromtimestamp(job.started, tz=UTC)
    return {
        "id": uuid.uuid4(),
        "account_id": account_id,
        "user_id": user_id,
        "type": job.job_type,
        "priority": "normal",
        "status": JobStatus.SUCCEEDED,
        "progress": 1.0,
        "data": job.data,
        "result": job.result,
        "error": None,
        "host": job.host,
        "idempotency_key": job.key,
        "request_hash": None,
        "request_id": None,
        "attempts": 0,
        "created_at": started,
        "published_at": None,
        "started_at": started,
        "finished_at": datetime.fromtimestamp(job.finished, tz=UTC),
        "expires_at": now + timedelta(days=keep_days),
        "updated_at": now,
        "imported": {**job.imported, **stamp},
    }
