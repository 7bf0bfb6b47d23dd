"""What an import read, wrote and left out, as the lines `smartcompute import legacy` prints."""

from __future__ import annotations

from collections import Counter

from smartcompute.ingest.legacy.records import LegacySource
from smartcompute.ingest.legacy.writer import Outcome
from smartcompute.jobs.enums import JobType

BAD_ROWS_SHOWN = 20  # per table; the rest are counted


def report_lines(sources: list[LegacySource], outcome: Outcome, *, dry_run: bool) -> list[str]:
    verb = "would import" if dry_run else "imported"
    lines = []
    for source in sources:
        read = ", ".join(f"{table} {count}" for table, count in source.rows_read.items() if count)
        lines.append(f"{source.name} ({source.kind}): read {read or 'nothing'}")
    lines.append(f"{verb}:")
    lines.append(f"  hosts: {outcome.hosts_new} new, {outcome.hosts_known} already there")
    lines.append(f"  baselines: {outcome.baselines_seeded} seeded, {outcome.baselines_kept} hosts already had one")
    for job_type in sorted(set(outcome.jobs_new) | set(outcome.jobs_known)):
        extra = (
            f" ({outcome.samples_new} samples, {outcome.incidents_new} incidents)"
            if job_type == JobType.ANOMALY_DETECTION and outcome.jobs_new[job_type]
            else ""
        )
        lines.append(
            f"  {job_type} jobs: {outcome.jobs_new[job_type]} new{extra}, "
            f"{outcome.jobs_known[job_type]} imported before"
        )
    not_imported = [item for source in sources for item in source.not_imported]
    if not_imported:
        lines.append("not imported (no counterpart in SmartCompute):")
        lines += [f"  {item.what}: {item.count} ({item.reason})" for item in not_imported]
    bad = [row for source in sources for row in source.bad]
    if bad:
        lines.append(f"bad rows, left out: {len(bad)}")
        shown: Counter = Counter()
        for row in bad:
            shown[row.table] += 1
            if shown[row.table] <= BAD_ROWS_SHOWN:
                lines.append(f"  {row.table} {row.id if row.id is not None else '-'}: {row.reason}")
        lines += [
            f"  {table}: {count - BAD_ROWS_SHOWN} more" for table, count in shown.items() if count > BAD_ROWS_SHOWN
        ]
    if dry_run:
        lines.append("dry run: nothing was written")
    return lines
