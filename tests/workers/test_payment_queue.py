"""Payment events travel on their own queue to their own worker, and are processed once."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from sqlalchemy import select

from smartcompute.billing.models import WebhookEvent
from tests.support import celery_worker, wait_until
from workers.celery_app import REDIS_PRIORITY_STEPS


def deliver(client, secret: str, event_id: str):
    body = json.dumps({"id": event_id, "type": "payment.confirmed"}).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(
        "/v1/webhooks/payments/generic",
        data=body,
        headers={"X-Webhook-Signature": signature, "Content-Type": "application/json"},
    )


def event_row(sessions, event_id: str) -> WebhookEvent | None:
    with sessions() as session:
        return session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == event_id))


def test_a_stored_event_is_processed_once_by_the_payment_worker(broker_env, broker_client, sessions, tmp_path):
    event_id = f"evt_{uuid.uuid4().hex}"
    env = {**broker_env, "BROKER_KEY_PREFIX": f"{broker_env['BROKER_KEY_PREFIX']}pay{uuid.uuid4().hex[:6]}:"}
    with celery_worker(env, tmp_path, queues="payment-webhook", app="workers.payment_worker") as worker:
        from web import create_app

        client = create_app(env).test_client()
        assert deliver(client, env["PAYMENT_WEBHOOK_SECRET"], event_id).status_code == 200
        assert deliver(client, env["PAYMENT_WEBHOOK_SECRET"], event_id).get_json()["duplicate"] is True
        processed = wait_until(
            lambda: (row := event_row(sessions, event_id)) and row.status == "processed" and row,
            30,
            "the payment event to be processed",
        )
    assert processed.attempts == 1 and processed.processed_at is not None
    assert worker.log().count("payment event processed") == 1


def test_the_core_worker_does_not_take_payment_events(broker_env, sessions, tmp_path):
    env = {**broker_env, "BROKER_KEY_PREFIX": f"{broker_env['BROKER_KEY_PREFIX']}core{uuid.uuid4().hex[:6]}:"}
    event_id = f"evt_{uuid.uuid4().hex}"
    with celery_worker(env, tmp_path, queues="core-analysis") as worker:
        from web import create_app

        deliver(create_app(env).test_client(), env["PAYMENT_WEBHOOK_SECRET"], event_id)
        wait_until(lambda: event_row(sessions, event_id) is not None, 10, "the event to be stored")
        assert "payment-webhook" not in worker.log().split("[tasks]")[0].split("[queues]")[-1]
        assert waiting_messages(env, "payment-webhook") == 1
    assert event_row(sessions, event_id).status == "received"


def waiting_messages(env: dict[str, str], queue: str) -> int:
    """Messages sitting in a queue, read from the broker itself."""
    if env["BROKER_URL"].startswith("redis"):
        import redis

        client = redis.Redis.from_url(env["BROKER_URL"])
        prefix = env["BROKER_KEY_PREFIX"] + queue
        return sum(
            client.llen(key)
            for key in client.scan_iter(match=f"{prefix}*")
            if key.decode() in {prefix, *(f"{prefix}:{step}" for step in REDIS_PRIORITY_STEPS)}
        )
    from kombu import Connection

    with Connection(env["BROKER_URL"]) as connection:
        return connection.default_channel.queue_declare(queue=queue, passive=True).message_count
