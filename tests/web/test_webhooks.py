"""The generic payment webhook: verified over the raw body, stored once, answered fast."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

from sqlalchemy import func, select

from smartcompute.billing.models import WebhookEvent

URL = "/v1/webhooks/payments/generic"


def signed(secret: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Webhook-Signature": f"sha256={digest}", "Content-Type": "application/json"}


def event_body(event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex}",
            "type": "payment.confirmed",
            "data": {"amount": "10.00", "currency": "USDC"},
        }
    ).encode()


def stored(sessions, event_id: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(WebhookEvent.event_id == event_id))


def test_a_correctly_signed_event_is_stored_and_acknowledged(client, settings, sessions):
    body = event_body("evt_ok")
    response = client.post(URL, data=body, headers=signed(settings.PAYMENT_WEBHOOK_SECRET, body))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "event_id": "evt_ok", "duplicate": False}
    assert stored(sessions, "evt_ok") == 1


def test_a_repeated_event_is_200_and_stored_once(client, settings, sessions):
    body = event_body("evt_twice")
    headers = signed(settings.PAYMENT_WEBHOOK_SECRET, body)
    client.post(URL, data=body, headers=headers)
    again = client.post(URL, data=body, headers=headers)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert stored(sessions, "evt_twice") == 1


def test_a_bad_signature_is_401_and_nothing_is_stored(client, settings, sessions):
    body = event_body("evt_forged")
    headers = signed("another-secret-entirely", body)
    assert client.post(URL, data=body, headers=headers).status_code == 401
    assert stored(sessions, "evt_forged") == 0


def test_a_tampered_body_is_401(client, settings, sessions):
    headers = signed(settings.PAYMENT_WEBHOOK_SECRET, event_body("evt_tamper"))
    tampered = event_body("evt_tamper").replace(b"10.00", b"99.00")
    assert client.post(URL, data=tampered, headers=headers).status_code == 401
    assert stored(sessions, "evt_tamper") == 0


def test_a_missing_signature_is_401(client, sessions):
    response = client.post(URL, data=event_body("evt_unsigned"), content_type="application/json")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert stored(sessions, "evt_unsigned") == 0


def test_an_unknown_provider_is_404(client, settings):
    body = event_body()
    assert (
        client.post(
            "/v1/webhooks/payments/acme", data=body, headers=signed(settings.PAYMENT_WEBHOOK_SECRET, body)
        ).status_code
        == 404
    )


def test_a_signed_body_without_an_event_id_is_400(client, settings):
    body = json.dumps({"type": "payment.confirmed"}).encode()
    assert client.post(URL, data=body, headers=signed(settings.PAYMENT_WEBHOOK_SECRET, body)).status_code == 400


def test_a_signed_event_with_nul_characters_is_stored_once_with_its_bytes_as_sent(client, settings, sessions):
    """PostgreSQL cannot store U+0000 in text or jsonb; a verified event must be kept all the same."""
    body = json.dumps(
        {
            "id": "evt_nul\x00",
            "type": "payment.confirmed\x00",
            "data": {"payment_id": "pay\x00", "note": {"a\x00": "b\x00"}},
        }
    ).encode()
    headers = signed(settings.PAYMENT_WEBHOOK_SECRET, body)
    first, again = client.post(URL, data=body, headers=headers), client.post(URL, data=body, headers=headers)
    assert first.status_code == 200 and first.get_json()["duplicate"] is False
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    assert stored(sessions, "evt_nul\ufffd") == 1
    with sessions() as session:
        event = session.scalar(select(WebhookEvent).where(WebhookEvent.event_id == "evt_nul\ufffd"))
        assert bytes(event.raw_body) == body
        assert event.event_type == "payment.confirmed\ufffd"
        assert event.payload["data"]["note"] == {"a\ufffd": "b\ufffd"}


def test_a_signed_event_with_an_integer_beyond_64_bits_is_stored(client, settings, sessions):
    body = json.dumps({"id": "evt_big", "type": "payment.confirmed", "data": {"amount": -(2**63) - 1}}).encode()
    response = client.post(URL, data=body, headers=signed(settings.PAYMENT_WEBHOOK_SECRET, body))
    assert response.status_code == 200
    with sessions() as session:
        assert bytes(session.scalar(select(WebhookEvent.raw_body).where(WebhookEvent.event_id == "evt_big"))) == body
