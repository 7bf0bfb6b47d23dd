"""The job request schema: what a validated request stores."""

from __future__ import annotations

import json

import pytest

from smartcompute.jobs.schemas import JobRequest
from tests.support import job_body


def _threat_body() -> dict:
    body = job_body("threat_analysis", points=5, host="web-1")
    body["data"]["timestamps"][0] = 1767225600  # an integer epoch among floats
    body["data"]["connections"] = [
        {"timestamp": 1767225600, "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "dst_port": 443},
        {
            "timestamp": "2026-01-01T00:00:05Z",
            "src_ip": "10.0.0.1",
            "dst_ip": "10.0.0.3",
            "dst_port": 22,
            "bytes_out": 5,
        },
    ]
    body["data"]["processes"] = [{"timestamp": 1767225600, "name": "sshd", "user": None, "cpu_percent": 3}]
    return body


@pytest.mark.parametrize(
    "body",
    [job_body(points=50), {**job_body(points=5), "priority": "high"}, _threat_body()],
    ids=["metrics only", "with priority", "connections and processes"],
)
def test_the_stored_telemetry_document_is_the_validated_request_as_json(body):
    telemetry = JobRequest.model_validate_json(json.dumps(body)).data
    document = telemetry.document()
    assert json.dumps(document) == json.dumps(telemetry.model_dump(mode="json", exclude_none=True))
    assert "user" not in document.get("processes", [{}])[0]
