"""The worker's consumer (Celery's `worker_consumer` setting): Celery's own, with task events sent in batches.

Flower learns about every task from the worker's task events (received, started, succeeded or failed).
Celery buffers them but flushes the buffer on the event loop's next turn, so a busy worker published one
small message per event or two, and publishing them took about a third of its main process's time. Here a
flush waits up to EVENT_FLUSH_SECONDS, so each message carries tens of events; Celery still flushes at once
when its buffer is full. Flower shows a task at most that much later.
"""

from __future__ import annotations

from celery.worker.consumer import Consumer as CeleryConsumer

EVENT_FLUSH_SECONDS = 0.1


class Consumer(CeleryConsumer):
    _event_flush_due = False

    def on_send_event_buffered(self) -> None:
        if self.hub is None or self._event_flush_due:
            return
        self._event_flush_due = True
        self.hub.call_later(EVENT_FLUSH_SECONDS, self._flush_buffered_events)

    def _flush_buffered_events(self) -> None:
        self._event_flush_due = False
        if self.event_dispatcher:
            self.event_dispatcher.flush()
