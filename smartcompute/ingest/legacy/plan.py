"""What an import of legacy sources will write: hosts, seeded baselines and finished jobs, each with a key
derived from its source and legacy ids, so that importing again adds nothing."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, UTC
from typing import Any

from smartcompute.detection.anomaly_report import LearnedSummary, seeded_baseline
from smartcompute.detection.telemetry import iso8601
from smartcompute.ingest.legacy.incidents import legacy_incidents
from smartcompute.ingest.legacy.records import Alert, Baseline, LegacySource, Report, Sample
from smartcompute.jobs.enums import JobType

ORIGIN = "legacy SmartCompute"


@dataclass(frozen=True)
class PlannedHost:
    name: str
    attributes: dict[str, Any]
    imported: dict[str, Any]


@dataclass(frozen=True)
class PlannedBaseline:
    host: str
    state: dict[str, Any]
    seeded_from: dict[str, Any]


@dataclass(frozen=True)
class PlannedJob:
    key: str
    job_type: str
    host: str
    data: dict[str, Any]
    result: dict[str, Any]
    imported: dict[str, Any]
    started: float
    finished: float

    @property
    def incidents(self) -> int:
        return len(self.result.get("incidents", ()))

    @property
    def samples(self) -> int:
        return len(self.data.get("timestamps", ()))


@dataclass
class ImportPlan:
    hosts: dict[str, PlannedHost] = field(default_factory=dict)
    baselines: dict[str, PlannedBaseline] = field(default_factory=dict)
    jobs: list[PlannedJob] = field(default_factory=list)


def plan_import(sources: list[LegacySource], *, now: float) -> ImportPlan:
    """`now` is where seeded baselines end: a host's first new job is judged against them."""
    plan = ImportPlan()
    for source in sources:
        for profile in source.profiles.values():
            plan.hosts.setdefault(
                profile.name,
                PlannedHost(
                    profile.name,
                    profile.attributes,
                    {"from": ORIGIN, "source": source.name, "table": "system_profiles", "id": profile.id},
                ),
            )
        for host in sorted({sample.host for sample in source.samples} | {b.host for b in source.baselines}):
            plan.hosts.setdefault(host, PlannedHost(host, {}, {"from": ORIGIN, "source": source.name}))
        plan.jobs += _anomaly_jobs(source)
        plan.jobs += [_report_job(report, source) for report in source.reports]
    chosen = _chosen_baselines([(baseline, source) for source in sources for baseline in source.baselines])
    plan.baselines = {host: _seed(baseline, source, now) for host, (baseline, source) in chosen.items()}
    return plan


def _chosen_baselines(baselines: list[tuple[Baseline, LegacySource]]) -> dict[str, tuple[Baseline, LegacySource]]:
    """Each host's active baseline, the latest when it has several."""
    chosen: dict[str, tuple[Baseline, LegacySource]] = {}
    for baseline, source in sorted(
        baselines, key=lambda pair: (pair[0].active, pair[0].created_at or 0.0, str(pair[0].id))
    ):
        chosen[baseline.host] = (baseline, source)
    return chosen


def _seed(baseline: Baseline, source: LegacySource, now: float) -> PlannedBaseline:
    span = baseline.duration_seconds or 0.0
    summaries = {
        "cpu_percent": LearnedSummary(baseline.cpu_mean, baseline.cpu_stdev, baseline.sample_count, span, 0.0, 100.0),
        "memory_percent": LearnedSummary(
            baseline.memory_mean, baseline.memory_stdev, baseline.sample_count, span, 0.0, 100.0
        ),
    }
    return PlannedBaseline(
        baseline.host,
        seeded_baseline(summaries, now),
        {
            "from": ORIGIN,
            "source": source.name,
            "table": "performance_baselines",
            "id": baseline.id,
            "name": baseline.name,
            "cpu_mean": baseline.cpu_mean,
            "cpu_stdev": baseline.cpu_stdev,
            "memory_mean": baseline.memory_mean,
            "memory_stdev": baseline.memory_stdev,
            "sample_count": baseline.sample_count,
        },
    )


def _anomaly_jobs(source: LegacySource) -> list[PlannedJob]:
    """One finished anomaly_detection job per host, table (or file) and UTC day; an incident goes with the day it
    started."""
    series: dict[tuple[str, str], list[Sample]] = defaultdict(list)
    for sample in source.samples:
        series[(sample.table, sample.host)].append(sample)
    alerts: dict[Any, list[Alert]] = defaultdict(list)
    for alert in source.alerts:
        alerts[alert.detection_id].append(alert)
    baselines = {baseline.id: baseline for baseline in source.baselines}
    jobs = []
    for (table, host), samples in sorted(series.items()):
        samples.sort(key=lambda sample: (sample.time, str(sample.id)))
        incidents_by_day: dict[str, list[dict]] = defaultdict(list)
        for incident in legacy_incidents(samples, alerts, baselines):
            incidents_by_day[incident["start"][:10]].append(incident)
        days: dict[str, list[Sample]] = defaultdict(list)
        for sample in samples:
            days[_day(sample.time)].append(sample)
        jobs += [
            _day_job(source, table, host, day, day_samples, incidents_by_day.get(day, []))
            for day, day_samples in sorted(days.items())
        ]
    return jobs


def _day_job(
    source: LegacySource, table: str, host: str, day: str, samples: list[Sample], incidents: list[dict]
) -> PlannedJob:
    names = sorted(set.intersection(*(set(sample.metrics) for sample in samples)))
    data = {
        "timestamps": [sample.time for sample in samples],
        "host": host,
        "metrics": {name: [sample.metrics[name] for sample in samples] for name in names},
    }
    scored = any(sample.score is not None for sample in samples)
    result = {
        "incidents": incidents,
        "summary": {
            "host": host,
            "points": len(samples),
            "metrics": len(names),
            "incidents": len(incidents),
            "open_incidents": 0,
            "imported": True,
            "scored_by": "the legacy SmartCompute (z-scores against its baseline)" if scored else None,
        },
    }
    if scored:
        result["legacy"] = {
            "anomaly_score": [sample.score for sample in samples],
            "severity": [sample.severity for sample in samples],
            "cpu_zscore": [sample.cpu_zscore for sample in samples],
            "memory_zscore": [sample.memory_zscore for sample in samples],
        }
    imported = {
        "from": ORIGIN,
        "source": source.name,
        "table": table,
        "day": day,
        "rows": len(samples),
        "first_id": samples[0].id,
        "last_id": samples[-1].id,
    }
    return PlannedJob(
        _key(source, table, host, day),
        JobType.ANOMALY_DETECTION,
        host,
        data,
        result,
        imported,
        samples[0].time,
        samples[-1].time,
    )


def _report_job(report: Report, source: LegacySource) -> PlannedJob:
    result = {
        "report": {
            "type": report.report_type,
            "title": report.title,
            "summary": report.summary,
            "data": report.data,
            "recommendations": report.recommendations,
            "generated_at": iso8601(report.generated_at),
            "generated_by": report.generated_by,
        },
        "summary": {"host": report.host, "imported": True},
    }
    imported = {"from": ORIGIN, "source": source.name, "table": "performance_reports", "id": report.id}
    return PlannedJob(
        _key(source, "performance_reports", report.id),
        JobType.PERFORMANCE_ANALYSIS,
        report.host,
        {"host": report.host},
        result,
        imported,
        report.generated_at,
        report.generated_at,
    )


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).date().isoformat()


def _key(source: LegacySource, *parts: Any) -> str:
    """An Idempotency-Key: the source's identity and the legacy row's (or day's), hashed to fit."""
    text = "\n".join(str(part) for part in (source.identity, *parts))
    return "legacy:" + hashlib.sha256(text.encode()).hexdigest()[:48]
