"""Publishing keeps one producer and broker connection per thread, drops it when a publish fails, and sends a
message again at once when the broker has closed the kept connection."""

from __future__ import annotations

import subprocess
import threading
import uuid
from datetime import timedelta

import pytest
from kombu.exceptions import OperationalError

from config import Settings
from tests.support import free_port
from workers import publishing
from workers.celery_app import PAYMENT_QUEUE, create_celery_app


def taken_from_payment_queue(celery) -> int:
    """Take every message waiting in the payment queue; how many there were."""
    taken = 0
    with celery.connection_for_write() as connection:
        bound = publishing.configured_queue(celery, PAYMENT_QUEUE)(connection.default_channel)
        while bound.get(no_ack=True) is not None:
            taken += 1
    return taken


def test_a_threads_messages_go_out_on_one_kept_connection_and_all_arrive(private_env):
    celery = create_celery_app(Settings.from_mapping(private_env))
    publishing.publish_payment_event(celery, uuid.uuid4(), "first")
    kept = publishing._kept_producer(celery)
    for _ in range(4):
        publishing.publish_payment_event(celery, uuid.uuid4(), None)

    assert publishing._kept_producer(celery) is kept and kept.declared == {PAYMENT_QUEUE}
    assert taken_from_payment_queue(celery) == 5


def test_each_thread_publishes_on_a_connection_of_its_own(private_env):
    celery = create_celery_app(Settings.from_mapping(private_env))
    publishing.publish_payment_event(celery, uuid.uuid4(), None)
    other = []
    thread = threading.Thread(
        target=lambda: (
            publishing.publish_payment_event(celery, uuid.uuid4(), None),
            other.append(publishing._kept_producer(celery)),
        )
    )
    thread.start()
    thread.join()

    assert other[0].connection is not publishing._kept_producer(celery).connection
    assert taken_from_payment_queue(celery) == 2


@pytest.mark.parametrize("scheme", ["redis", "amqp"])
def test_a_failed_publish_raises_and_leaves_no_producer_behind(base_env, scheme):
    url = f"redis://127.0.0.1:{free_port()}/0" if scheme == "redis" else f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    celery = create_celery_app(Settings.from_mapping({**base_env, "BROKER_URL": url}))
    with pytest.raises(OperationalError):
        publishing.publish_payment_event(celery, uuid.uuid4(), None)

    assert celery not in publishing._kept.by_app  # the next publish starts on a new connection


def close_rabbitmq_connections(vhost: str) -> None:
    """As a broker restart would: RabbitMQ closes every client connection of the vhost."""
    for line in subprocess.run(
        ["rabbitmqctl", "-q", "list_connections", "pid", "vhost"], check=True, capture_output=True, text=True
    ).stdout.splitlines():
        pid, _, on = line.partition("\t")
        if on.strip() == vhost:
            subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test"], check=True, capture_output=True)


@pytest.mark.parametrize("confirms", ["true", "false"])
@pytest.mark.parametrize("private_env", ["rabbitmq"], indirect=True)
def test_a_message_after_the_broker_closed_the_kept_connection_goes_out_at_once_on_a_new_one(private_env, confirms):
    """With or without confirms: py-amqp reads what the broker sent before each publish, so the closed
    connection fails the publish (it does not vanish into it), and `_send` repeats it on a new connection."""
    celery = create_celery_app(Settings.from_mapping({**private_env, "BROKER_PUBLISH_CONFIRMS": confirms}))
    publishing.publish_payment_event(celery, uuid.uuid4(), None)
    first = publishing._kept_producer(celery)
    close_rabbitmq_connections(private_env["BROKER_URL"].rsplit("/", 1)[1])

    publishing.publish_payment_event(celery, uuid.uuid4(), None)

    assert publishing._kept_producer(celery) is not first
    assert taken_from_payment_queue(celery) == 2


WINDOWS = {"REPUBLISH_STALE_AFTER": "900", "REPUBLISH_MISSING_AFTER": "30"}


def test_a_sent_message_may_wait_the_stale_window_while_its_queue_holds_messages(private_env):
    celery = create_celery_app(Settings.from_mapping({**private_env, **WINDOWS}))
    publishing.publish_payment_event(celery, uuid.uuid4(), None)

    assert publishing.resend_after(celery, PAYMENT_QUEUE) == timedelta(seconds=900)


def test_a_sent_message_still_untaken_once_its_queue_is_empty_is_resent_after_the_missing_window(private_env):
    celery = create_celery_app(Settings.from_mapping({**private_env, **WINDOWS}))
    publishing.publish_payment_event(celery, uuid.uuid4(), None)
    taken_from_payment_queue(celery)  # as a broker that lost it would

    assert publishing.resend_after(celery, PAYMENT_QUEUE) == timedelta(seconds=30)


def test_an_unreachable_broker_keeps_the_stale_window(base_env):
    url = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    celery = create_celery_app(Settings.from_mapping({**base_env, **WINDOWS, "BROKER_URL": url}))

    assert publishing.resend_after(celery, PAYMENT_QUEUE) == timedelta(seconds=900)
