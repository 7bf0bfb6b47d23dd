"""Both streams are in the OpenAPI document, as text/event-stream with the Last-Event-ID header."""

from __future__ import annotations


def test_both_streams_are_documented_as_server_sent_events(client):
    spec = client.get("/v1/openapi.json").get_json()
    for path in ("/v1/events", "/v1/jobs/{job_id}/events"):
        operation = spec["paths"][path]["get"]
        assert list(operation["responses"]["200"]["content"]) == ["text/event-stream"], path
        assert {"401", "503"} <= set(operation["responses"]), path
        assert [parameter["name"] for parameter in operation["parameters"] if parameter["in"] == "header"] == [
            "Last-Event-ID"
        ], path
    assert "404" in spec["paths"]["/v1/jobs/{job_id}/events"]["get"]["responses"]
    assert {"JobStatusData", "IncidentData", "ResetData"} <= set(spec["components"]["schemas"])
