"""Monitors (Flower) hear of every task from the worker: received, started and succeeded, batched but prompt."""

from __future__ import annotations

import threading
import time

from tests.support import job_body, wait_until
from tests.workers.test_pipeline import poll, submit

TASK_STATES = {"task-received", "task-started", "task-succeeded"}


class EventListener:
    """Task events for the broker's event exchange, as a monitor subscribed before the job is sent sees them."""

    def __init__(self, celery):
        self.events: list[tuple[float, dict]] = []
        self._celery, self._stop, self._ready = celery, threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def __enter__(self) -> EventListener:
        self._thread.start()
        assert self._ready.wait(15), "the event receiver did not subscribe"
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _listen(self) -> None:
        with self._celery.connection_for_read() as connection:
            receiver = self._celery.events.Receiver(
                connection, handlers={"*": lambda event: self.events.append((time.monotonic(), event))}
            )
            for _ in receiver.itercapture(limit=None, timeout=None, wakeup=False):
                self._ready.set()  # the first turn comes once the receiver's queue is bound
                if self._stop.is_set():
                    return

    def of_task(self, task_id: str) -> dict[str, float]:
        return {event["type"]: seen for seen, event in self.events if event.get("uuid") == task_id}

    def received(self, task_id: str) -> dict:
        return next(
            event for _, event in self.events if event.get("uuid") == task_id and event["type"] == "task-received"
        )


def test_monitors_see_each_task_received_started_and_succeeded(broker_app, broker_client, shared_worker, account):
    with EventListener(broker_app.extensions["smartcompute"].celery) as listener:
        job = submit(broker_client, account, job_body(points=100))
        poll(broker_client, account, job["id"])
        finished = time.monotonic()
        seen = wait_until(
            lambda: TASK_STATES <= set(listener.of_task(job["id"])) and listener.of_task(job["id"]),
            10,
            "the job's task events",
        )
    assert seen["task-succeeded"] - finished < 2  # batched, but not held back


def test_monitors_show_the_job_id_and_request_id_a_task_was_sent_with(
    broker_app, broker_client, shared_worker, account
):
    with EventListener(broker_app.extensions["smartcompute"].celery) as listener:
        job = submit(broker_client, account, job_body(points=100), **{"X-Request-ID": "req-shown-1"})
        wait_until(lambda: "task-received" in listener.of_task(job["id"]), 10, "the job's task-received event")
    received = listener.received(job["id"])
    assert (received["args"], received["kwargs"]) == (f"['{job['id']}']", "{'request_id': 'req-shown-1'}")
