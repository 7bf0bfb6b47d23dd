"""Sending work to the broker. Called only after the row the message points to has committed.

Each thread publishes through a producer it keeps, on a broker connection of its own. Celery's producer pool
took a producer and a pooled connection for every message and bound them together again, and kombu copied the
queue to check it had been declared: together about a third of the API's CPU for a webhook delivery. A kept
producer declares its queue with its first message only (kombu, too, declares once per connection). Any
failure drops it. A kept connection can have been closed by the broker since its last message (a restart):
the message then goes once more at once, on a new connection, rather than waiting for the re-publisher. On
RabbitMQ that holds without publisher confirms too: py-amqp reads what the broker sent before each publish, so
a closed connection fails the publish instead of swallowing it (tests/workers/test_publishing.py checks both).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from celery import Celery
from kombu import Connection, Producer

from workers.celery_app import (
    CORE_QUEUE,
    DELIVER_CALLBACK,
    PAYMENT_QUEUE,
    PROCESS_PAYMENT_EVENT,
    RUN_ANALYSIS,
    app_settings,
    broker_priority,
)


def publish_job(
    celery: Celery, job_id: uuid.UUID, priority: str, request_id: str | None, *, with_callback: bool = False
) -> None:
    """The Celery task id is the job id, so broker, database and API share one id. `with_callback`: the job
    has a callback_url, so the worker that finishes it sends the callback at once; the message says so, and
    jobs without one cost nothing more (a job sent without it still gets its callback, from the re-publisher)."""
    _send(
        celery,
        RUN_ANALYSIS,
        CORE_QUEUE,
        job_id,
        request_id,
        extra_kwargs={"callback": True} if with_callback else None,
        priority=broker_priority(app_settings(celery), priority),
    )


def publish_callback(celery: Celery, job_id: uuid.UUID, request_id: str | None) -> None:
    """A finished job's callback. Ahead of waiting `normal` jobs: a customer is told promptly under a backlog."""
    _send(
        celery,
        DELIVER_CALLBACK,
        CORE_QUEUE,
        job_id,
        request_id,
        task_id=str(uuid.uuid4()),
        priority=broker_priority(app_settings(celery), "high"),
    )


def publish_payment_event(celery: Celery, event_id: uuid.UUID, request_id: str | None) -> None:
    _send(celery, PROCESS_PAYMENT_EVENT, PAYMENT_QUEUE, event_id, request_id)


def republish_windows(celery: Celery, queue_name: str) -> dict[str, timedelta]:
    """The re-publisher's windows for `queue_name`, as `due_for_publishing` takes them: how long a message never
    sent (the broker refused it) and one sent but not yet taken may wait before they are sent again."""
    return {
        "unsent_after": timedelta(seconds=app_settings(celery).REPUBLISH_UNSENT_AFTER),
        "stale_after": resend_after(celery, queue_name),
    }


class BrokerRefused(Exception):
    """A re-publisher round could not send: the broker is down or refused the message (the cause says which).
    Errors of the database the round reads and marks rows in are not this; they propagate as they are."""


Row = TypeVar("Row")
RESEND_BATCH = 500
# Of the core re-publisher's 60 s soft time limit: 20 s for jobs, 10 for callbacks and 10 for expired jobs at most,
# spent only while an outage's backlog drains; what is left waits for the next round.
RESEND_BUDGET_SECONDS = 20.0


def send_due(
    due: Callable[[bool, int], Sequence[Row]],
    send: Callable[[Row], None],
    mark_unsent: Callable[[Row], None],
    *,
    batch: int = RESEND_BATCH,
    budget_seconds: float = RESEND_BUDGET_SECONDS,
) -> int:
    """Send what a re-publisher round finds due, in batches; returns how many went out.

    `due(with_stale, limit)` marks up to `limit` rows sent and returns them. The first batch may hold stale
    sends, which may still be waiting in the broker, so the round takes one batch of those. Never-sent rows are
    surely not in the broker: after an outage the round keeps taking batches of them until none is left or the
    budget is spent, rather than one batch per interval (500 every 15 s would take hours to drain an hour's
    outage). If the broker refuses a message, that row and the rest of its batch are marked unsent for the
    next round, and BrokerRefused is raised."""
    deadline = time.monotonic() + budget_seconds
    rows, sent = due(True, batch), 0
    while rows:
        for index, row in enumerate(rows):
            try:
                send(row)
            except Exception as error:
                for unsent in rows[index:]:
                    mark_unsent(unsent)
                raise BrokerRefused(str(error)) from error
            sent += 1
        if len(rows) < batch or time.monotonic() > deadline:
            break
        rows = due(False, batch)
    return sent


def resend_after(celery: Celery, queue_name: str) -> timedelta:
    """How long a sent message may go untaken before the re-publisher sends it again.

    While the broker's queue still holds messages, ours may be waiting among them: REPUBLISH_STALE_AFTER. Once
    it holds none, a message sent longer ago than REPUBLISH_MISSING_AFTER and still not taken was lost (a Redis
    restarted without persistence, a RabbitMQ that crashed before writing it, a publish written just as the
    broker went down): it goes again then, not a quarter of an hour later. Workers take one message per free process
    (late acknowledgement, prefetch 1), so a message a worker holds is started at once, not left waiting; only
    a retry waiting out its countdown may then be sent twice, and a second delivery changes nothing.
    """
    settings = app_settings(celery)
    try:
        waiting = _waiting_messages(celery, queue_name)
    except Exception:  # the broker is unreachable: publishing will fail and mark what it could not send
        waiting = None
    return timedelta(seconds=settings.REPUBLISH_MISSING_AFTER if waiting == 0 else settings.REPUBLISH_STALE_AFTER)


def _waiting_messages(celery: Celery, queue_name: str) -> int:
    """Messages in `queue_name` that no consumer has taken; declaring it (as configured) reports the count."""
    with celery.connection_for_read() as connection:
        return configured_queue(celery, queue_name)(connection.default_channel).queue_declare().message_count


def configured_queue(celery: Celery, queue_name: str):
    """The kombu Queue of that name in the app's configuration (with its exchange and arguments)."""
    return next(queue for queue in celery.conf.task_queues if queue.name == queue_name)


@dataclass
class _KeptProducer:
    pid: int  # a producer inherited across fork would share the parent's socket
    connection: Connection
    producer: Producer
    declared: set[str] = field(default_factory=set)  # queues declared on this connection


_kept = threading.local()


def _send(
    celery: Celery,
    task: str,
    queue: str,
    record_id: uuid.UUID,
    request_id: str | None,
    *,
    extra_kwargs: dict | None = None,
    **options,
) -> None:
    kwargs = {"request_id": request_id, **(extra_kwargs or {})}
    message = {
        "args": [str(record_id)],
        "kwargs": kwargs,
        "task_id": str(record_id),
        "retry": False,
        **_shown_as(record_id, kwargs),
        **options,
    }  # options may name another task_id
    kept = _kept_producer(celery)
    try:
        _send_with(celery, kept, task, queue, message)
    except Exception:
        if not kept.declared:  # it was a new connection: the broker is down, and the caller marks the row unsent
            raise
        _send_with(celery, _kept_producer(celery), task, queue, message)


def _send_with(celery: Celery, kept: _KeptProducer, task: str, queue: str, message: dict) -> None:
    """Publish on `kept`, which is dropped if that fails."""
    try:
        celery.send_task(task, producer=kept.producer, declare=[] if queue in kept.declared else None, **message)
    except BaseException:
        _drop(celery, kept)
        raise
    kept.declared.add(queue)  # None above: Celery declared the task's queue with the message


def _kept_producer(celery: Celery) -> _KeptProducer:
    by_app = getattr(_kept, "by_app", None)
    if by_app is None:
        by_app = _kept.by_app = weakref.WeakKeyDictionary()  # an app that is gone takes its producer with it
    kept = by_app.get(celery)
    if kept is None or kept.pid != os.getpid():
        connection = celery.connection_for_write()
        kept = by_app[celery] = _KeptProducer(os.getpid(), connection, Producer(connection))
    return kept


def _drop(celery: Celery, kept: _KeptProducer) -> None:
    _kept.by_app.pop(celery, None)
    try:
        kept.connection.release()
    except Exception:  # the connection is what failed; there is nothing more to give back
        pass


def _shown_as(record_id: uuid.UUID, kwargs: dict) -> dict[str, str]:
    """How Flower and the worker's logs show the arguments, written out: Celery's own safe repr of them cost
    about a fifth of each publish (~100 µs of the API's CPU per job)."""
    return {"argsrepr": f"['{record_id}']", "kwargsrepr": repr(kwargs)}
