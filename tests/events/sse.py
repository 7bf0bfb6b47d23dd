"""A server-sent events client for the tests, reading as a browser's EventSource does, and the jobs that cause
events."""

from __future__ import annotations

import json
import math
import threading
from datetime import UTC, datetime, timedelta

import httpx

from tests.support import wait_until


class EventSource:
    """Reads one stream in a thread. Like a browser, it remembers the last id it was sent and, with `reconnect`,
    opens the stream again with it as Last-Event-ID when the server ends the stream."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        *,
        last_event_id: str | None = None,
        reconnect: bool = False,
        read_timeout: float = 5,
    ):
        self.url, self.headers, self.last_event_id, self.reconnect = url, headers, last_event_id, reconnect
        self.read_timeout = read_timeout  # a stream silent for longer (no heartbeat) counts as ended
        self.events: list[dict] = []
        self.comments = 0
        self.connections = 0  # streams opened (200s)
        self.ended = threading.Event()  # the server ended a stream
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> EventSource:
        self._thread.start()
        wait_until(lambda: self.connections or not self._thread.is_alive(), 30, "the stream to open")
        assert self.connections, f"the stream at {self.url} did not open"
        return self

    def __exit__(self, *_exc) -> None:
        self._stopping.set()
        self._thread.join(10)

    def wait_for(self, predicate, timeout: float = 60, what: str = "the events") -> list[dict]:
        wait_until(lambda: predicate(self.events), timeout, what)
        return list(self.events)

    def _run(self) -> None:
        with httpx.Client(timeout=httpx.Timeout(10, read=self.read_timeout)) as client:
            while not self._stopping.is_set():
                headers = {**self.headers, **({"Last-Event-ID": self.last_event_id} if self.last_event_id else {})}
                try:
                    with client.stream("GET", self.url, headers=headers) as response:
                        if response.status_code == 503:  # every stream is taken: a slot frees within a heartbeat
                            self._stopping.wait(0.5)
                            continue
                        response.raise_for_status()
                        self.connections += 1
                        self._read(response)
                except httpx.HTTPError:  # refused or failed: as when the server ends the stream
                    pass
                self.ended.set()
                if not self.reconnect:
                    return
                self._stopping.wait(1)  # the `retry:` the API asks for

    def _read(self, response: httpx.Response) -> None:
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if self._stopping.is_set():
                return
            if line.startswith(":"):
                self.comments += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = fields.get(name, "") + value.removeprefix(" ") if name == "data" else value.strip()
            else:
                self._dispatch(fields)
                fields = {}

    def _dispatch(self, fields: dict[str, str]) -> None:
        if "id" in fields:
            self.last_event_id = fields["id"]
        if "data" in fields:
            self.events.append(
                {"id": fields.get("id"), "event": fields.get("event", "message"), "data": json.loads(fields["data"])}
            )


def of_job(events: list[dict], job_id: str, name: str = "job.status") -> list[dict]:
    return [event for event in events if event["event"] == name and event["data"]["job_id"] == job_id]


def statuses(events: list[dict], job_id: str) -> list[str]:
    return [event["data"]["status"] for event in of_job(events, job_id)]


def job_with_incidents(host: str = "web-1") -> dict:
    """Five hours of a calm host's CPU, at 95% for half an hour (a closed incident) and again over its last
    quarter hour (an incident still open)."""
    start = datetime(2026, 12, 1, tzinfo=UTC)
    cpu = [round(25 + 3 * math.sin(i / 7) + i * 37 % 11 / 4, 1) for i in range(300)]
    cpu[180:210] = [95.0] * 30
    cpu[285:] = [95.0] * 15
    return {
        "type": "anomaly_detection",
        "data": {
            "host": host,
            "timestamps": [(start + timedelta(minutes=i)).isoformat() for i in range(300)],
            "metrics": {"cpu_percent": cpu},
        },
    }
