"""Every provider's webhook: verified over the raw body before parsing, stored once, bad deliveries refused."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, UTC

import pytest
from coinbase_commerce.webhook import WebhookSignature
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import func, select
from standardwebhooks import Webhook

from smartcompute.billing.models import WebhookEvent
from smartcompute.billing.providers.nowpayments import NowPaymentsProvider, canonical_js
from tests.billing.signing import PROVIDERS, SECRET_SETTINGS, body_for, headers_for


def stored(sessions, provider: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).where(WebhookEvent.provider == provider))


def post(client, provider, body, headers):
    return client.post(f"/v1/webhooks/payments/{provider}", data=body, headers=headers)


def signed(settings, provider, payment_id: str | None = None):
    body = body_for(provider, payment_id=payment_id or str(uuid.uuid4()), status="confirmed", amount="0.00025")
    return body, headers_for(provider, getattr(settings, SECRET_SETTINGS[provider]), body)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_delivery_signed_like_the_provider_is_stored_and_normalised(client, settings, sessions, provider):
    body, headers = signed(settings, provider)
    response = post(client, provider, body, headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    with sessions() as session:
        event = session.scalar(
            select(WebhookEvent).where(
                WebhookEvent.provider == provider, WebhookEvent.event_id == response.get_json()["event_id"]
            )
        )
    assert event.raw_body == body
    assert event.normalized["status"] == "confirmed"
    assert event.normalized["payment_id"] == json.loads(body).get("data", {}).get(
        "payment_id", event.normalized["payment_id"]
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_replayed_delivery_is_200_and_stored_once(client, settings, sessions, provider):
    body, headers = signed(settings, provider)
    first = post(client, provider, body, headers)
    again = post(client, provider, body, headers)
    assert first.get_json()["duplicate"] is False and again.get_json()["duplicate"] is True
    with sessions() as session:
        assert (
            session.scalar(
                select(func.count()).where(
                    WebhookEvent.provider == provider, WebhookEvent.event_id == first.get_json()["event_id"]
                )
            )
            == 1
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_tampered_body_is_401_and_nothing_is_stored(client, settings, sessions, provider):
    payment_id = str(uuid.uuid4())
    body, headers = signed(settings, provider, payment_id)
    before = stored(sessions, provider)
    response = post(client, provider, body.replace(payment_id.encode(), str(uuid.uuid4()).encode()), headers)
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert stored(sessions, provider) == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_secret_is_401(client, settings, sessions, provider):
    body = body_for(provider, payment_id=str(uuid.uuid4()), status="confirmed")
    wrong = (
        "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
        if provider == "standard-webhooks"
        else "not-the-secret-at-all"
    )
    before = stored(sessions, provider)
    assert post(client, provider, body, headers_for(provider, wrong, body)).status_code == 401
    assert stored(sessions, provider) == before


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_missing_signature_header_is_401(client, settings, provider):
    body, headers = signed(settings, provider)
    for name in [name for name in headers if name != "Content-Type"]:
        response = post(client, provider, body, {k: v for k, v in headers.items() if k != name})
        assert response.status_code == 401, name
        assert name.lower() in response.get_json()["detail"].lower()


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_standard_webhooks_refuses_stale_and_future_timestamps(client, settings, sessions, offset):
    body = body_for("standard-webhooks", payment_id=str(uuid.uuid4()), status="confirmed")
    headers = headers_for(
        "standard-webhooks", settings.STANDARD_WEBHOOKS_SECRET, body, timestamp=datetime.now(UTC) + offset
    )
    response = post(client, "standard-webhooks", body, headers)
    assert response.status_code == 401 and "timestamp" in response.get_json()["detail"]


def test_standard_webhooks_accepts_any_of_several_signatures_while_rotating(client, settings):
    body = body_for("standard-webhooks", payment_id=str(uuid.uuid4()), status="pending")
    now = datetime.now(UTC)
    old = Webhook("whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LW9sZA==").sign("msg_rot", now, body.decode())
    new = Webhook(settings.STANDARD_WEBHOOKS_SECRET).sign("msg_rot", now, body.decode())
    headers = {
        "webhook-id": "msg_rot",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": f"{old} {new}",
        "Content-Type": "application/json",
    }
    assert post(client, "standard-webhooks", body, headers).status_code == 200


def test_standard_webhooks_replayed_under_a_new_id_with_the_old_signature_is_401(client, settings):
    body, headers = signed(settings, "standard-webhooks")
    assert post(client, "standard-webhooks", body, {**headers, "webhook-id": "msg_other"}).status_code == 401


def test_coinbase_signatures_agree_with_the_coinbase_library(settings):
    body = body_for("coinbase-commerce", payment_id=str(uuid.uuid4()), status="confirmed").decode()
    signature = headers_for("coinbase-commerce", settings.COINBASE_COMMERCE_WEBHOOK_SECRET, body.encode())[
        "X-CC-Webhook-Signature"
    ]
    assert WebhookSignature.verify_sig_header(body, signature, settings.COINBASE_COMMERCE_WEBHOOK_SECRET)


def test_nowpayments_accepts_the_javascript_serialisation_of_its_docs():
    """NOWPayments' Node example: HMAC-SHA512 of JSON.stringify(sortObject(body)): unicode as is, JS numbers."""
    import hashlib
    import hmac

    secret = "ipn-secret-for-the-js-form"
    body = '{"price_amount":10.0,"payment_id":5077125051,"order_description":"crédits","pay_amount":1e-7,"fee":{"serviceFee":0,"currency":"btc"}}'
    js_text = '{"fee":{"currency":"btc","serviceFee":0},"order_description":"crédits","pay_amount":1e-7,"payment_id":5077125051,"price_amount":10}'
    signature = hmac.new(secret.encode(), js_text.encode(), hashlib.sha512).hexdigest()
    assert canonical_js(json.loads(body)) == js_text
    NowPaymentsProvider(secret).verify({"x-nowpayments-sig": signature}, body.encode())


def test_an_unknown_provider_is_404(client, settings):
    body, headers = signed(settings, "generic")
    assert post(client, "acme-pay", body, headers).status_code == 404


def test_a_provider_without_a_secret_is_404(base_env):
    from web import create_app

    client = create_app({**base_env, "BTCPAY_WEBHOOK_SECRET": ""}).test_client()
    body = body_for("btcpay", payment_id=str(uuid.uuid4()), status="confirmed")
    assert (
        post(client, "btcpay", body, headers_for("btcpay", base_env["BTCPAY_WEBHOOK_SECRET"], body)).status_code == 404
    )


def _stored_event(sessions, provider: str, event_id: str) -> WebhookEvent:
    with sessions() as session:
        return session.scalar(
            select(WebhookEvent).where(WebhookEvent.provider == provider, WebhookEvent.event_id == event_id)
        )


@pytest.mark.parametrize(
    "payments",
    [
        [[None]],
        [{"value": "1 BTC"}],
        [{"value": {"crypto": {"amount": "NaN", "currency": "BTC"}}}],
        [{"value": {"crypto": {"amount": "1", "currency": ["BTC"]}}}],
        {"0": {}},
    ],
)
def test_a_coinbase_charge_with_payments_of_another_shape_is_stored_without_an_amount(
    client, settings, sessions, payments
):
    body = json.loads(body_for("coinbase-commerce", payment_id=str(uuid.uuid4()), status="confirmed", amount="1"))
    body["event"]["data"]["payments"] = payments
    raw = json.dumps(body).encode()
    response = post(
        client,
        "coinbase-commerce",
        raw,
        headers_for("coinbase-commerce", settings.COINBASE_COMMERCE_WEBHOOK_SECRET, raw),
    )
    assert response.status_code == 200
    assert _stored_event(sessions, "coinbase-commerce", body["event"]["id"]).normalized["amount"] is None


def test_a_nowpayments_update_time_no_calendar_holds_is_stored_without_it(client, settings, sessions):
    body = json.loads(body_for("nowpayments", payment_id=str(uuid.uuid4()), status="confirmed", amount="1"))
    body["updated_at"] = 10**30
    raw = json.dumps(body).encode()
    response = post(client, "nowpayments", raw, headers_for("nowpayments", settings.NOWPAYMENTS_IPN_SECRET, raw))
    assert response.status_code == 200
    assert _stored_event(sessions, "nowpayments", response.get_json()["event_id"]).normalized["occurred_at"] is None


_ANY_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["a\x00b", "NaN", "9" * 400]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _json_paths(value, prefix=()):
    yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _json_paths(child, (*prefix, key))


def _replaced(value, path, new):
    if not path:
        return new
    value[path[0]] = _replaced(value[path[0]], path[1:], new)
    return value


@hypothesis_settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(provider=st.sampled_from(PROVIDERS), where=st.integers(min_value=0), new=_ANY_JSON)
def test_a_signed_delivery_of_any_shape_is_stored_or_refused_never_a_server_error(
    client, settings, provider, where, new
):
    """Providers' bodies drift from their docs; a signed one is stored (200) or unreadable (400), never a 500."""
    body = json.loads(body_for(provider, payment_id=str(uuid.uuid4()), status="confirmed", amount="1"))
    paths = list(_json_paths(body))
    raw = json.dumps(_replaced(body, paths[where % len(paths)], new)).encode()
    response = post(client, provider, raw, headers_for(provider, getattr(settings, SECRET_SETTINGS[provider]), raw))
    assert response.status_code in (200, 400), response.get_data(as_text=True)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_body_nested_deeper_than_python_parses_is_refused_with_the_reason_and_nothing_stored(
    client, settings, sessions, provider
):
    body, _ = signed(settings, provider)
    deep = body[:-1] + b', "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    if provider == "nowpayments":  # its signature is over the parsed body, which cannot be had
        headers = {"Content-Type": "application/json", "x-nowpayments-sig": "0" * 128}
    else:
        headers = headers_for(provider, getattr(settings, SECRET_SETTINGS[provider]), deep)
    before = stored(sessions, provider)
    response = post(client, provider, deep, headers)
    assert response.status_code == (401 if provider == "nowpayments" else 400)
    assert response.get_json()["detail"].startswith("the body nests deeper than 100 levels")
    assert stored(sessions, provider) == before


@pytest.mark.slow  # two hundred examples
@hypothesis_settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    body=st.recursive(
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.floats(allow_nan=False)
        | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=20,
    )
)
def test_the_python_form_of_an_ipn_is_what_nowpayments_python_example_signs(body):
    """NOWPayments' Python check signs json.dumps(body, sort_keys=True, separators=(",", ":")); ours is written
    in one pass over the parsed body instead, so it must agree on every shape."""
    from smartcompute.billing.providers.nowpayments import canonical_python

    parsed = json.loads(json.dumps(body))
    assert canonical_python(parsed) == json.dumps(parsed, sort_keys=True, separators=(",", ":"))


def test_an_ipn_is_parsed_once_and_its_event_comes_from_that_parse(settings, monkeypatch):
    from smartcompute.billing import providers

    body, headers = signed(settings, "nowpayments")
    parses = []
    real = providers.load_json
    monkeypatch.setattr(providers.nowpayments, "load_json", lambda *args: parses.append(1) or real(*args))
    event = NowPaymentsProvider(settings.NOWPAYMENTS_IPN_SECRET).read(headers, body)
    assert parses == [1]
    assert event.payload == json.loads(body) and event.status == "confirmed"
