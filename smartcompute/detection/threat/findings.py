"""The Finding every detector returns, and how findings combine into one threat score."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from smartcompute.detection.telemetry import iso8601

SEVERITIES = ("low", "medium", "high", "critical")
NO_THREAT_SEVERITY = "none"

# How much one finding of a given severity can move the score, before its confidence scales it.
# A critical finding at full confidence alone makes the score 1.
SEVERITY_WEIGHT = {"low": 0.3, "medium": 0.6, "high": 0.85, "critical": 1.0}


@dataclass(frozen=True)
class Finding:
    category: str
    severity: str
    confidence: float
    start: float
    end: float
    summary: str
    evidence: dict[str, Any]
    recommendation: str
    # Names the rules that fired, so the report can tell overlapping findings apart.
    indicators: tuple[str, ...] = field(default=())

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence} is outside 0..1")

    def to_dict(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "severity": self.severity,
            "confidence": round(float(self.confidence), 3),
            "start": iso8601(self.start),
            "end": iso8601(self.end),
            "summary": self.summary,
            "evidence": to_json(self.evidence),
            "recommendation": self.recommendation,
        }


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def threat_score(findings: list[Finding]) -> float:
    """1 - prod(1 - confidence * weight): independent pieces of evidence compound, none exceeds 1."""
    if not findings:
        return 0.0
    misses = [1.0 - f.confidence * SEVERITY_WEIGHT[f.severity] for f in findings]
    return float(1.0 - np.prod(misses))


def overall_severity(findings: list[Finding]) -> str:
    if not findings:
        return NO_THREAT_SEVERITY
    return max((f.severity for f in findings), key=severity_rank)


def to_json(value: Any) -> Any:
    """numpy scalars and arrays -> plain Python, floats rounded so reports stay readable."""
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [to_json(item) for item in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round_number(float(value))
    return value


def round_number(value: float) -> float | None:
    """Four decimals are enough for evidence a human reads; JSON has no infinity, so that is None."""
    if not np.isfinite(value):
        return None
    magnitude = abs(value)
    if magnitude >= 1000:
        return round(value, 1)
    return round(value, 4)
