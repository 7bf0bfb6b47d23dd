"""POST/GET /v1/payments through provider API clients that talk to a local server speaking their APIs."""

from __future__ import annotations

import pytest

from tests.billing.conftest import billing_headers, deliver, process_all


@pytest.mark.parametrize(
    "provider, field",
    [("coinbase-commerce", "checkout_url"), ("btcpay", "checkout_url"), ("nowpayments", "pay_address")],
)
def test_creating_a_payment_asks_the_provider_and_says_what_to_pay(paying_client, providers, buyer, provider, field):
    response = paying_client.post(
        "/v1/payments",
        headers=buyer,
        json={"kind": "pack", "product": "starter", "provider": provider, "currency": "BTC"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    payment = response.get_json()
    assert payment["status"] == "pending" and payment["credits"] == 1000 and payment[field]
    assert response.headers["Location"] == f"/v1/payments/{payment['id']}"
    path, headers, sent = providers.requests[-1]
    assert payment["id"] in str(sent)  # our id travels in the provider's metadata
    assert paying_client.get(f"/v1/payments/{payment['id']}", headers=buyer).get_json() == payment


def test_nowpayments_gets_the_ipn_callback_and_the_exact_amount_comes_back(paying_client, providers, buyer):
    payment = paying_client.post(
        "/v1/payments",
        headers=buyer,
        json={"product": "pro", "kind": "plan", "provider": "nowpayments", "currency": "USDT"},
    ).get_json()
    _, _, sent = providers.requests[-1]
    assert sent["ipn_callback_url"] == "https://api.smartcompute.example/v1/webhooks/payments/nowpayments"
    assert sent["pay_currency"] == "usdterc20" and payment["pay_amount"] == "0.00025123"


def test_a_paid_payment_shows_confirmed_and_lists_newest_first(paying_client, settings, sessions, providers, buyer):
    ids = [
        paying_client.post(
            "/v1/payments",
            headers=buyer,
            json={"product": "starter", "provider": "coinbase-commerce", "currency": "ETH"},
        ).get_json()["id"]
        for _ in range(3)
    ]
    deliver(paying_client, settings, "coinbase-commerce", ids[0], "confirmed")
    process_all(sessions, ids[0])
    assert paying_client.get(f"/v1/payments/{ids[0]}", headers=buyer).get_json()["status"] == "confirmed"
    page = paying_client.get("/v1/payments?limit=2", headers=buyer).get_json()
    assert [item["id"] for item in page["items"]] == ids[::-1][:2] and page["next_cursor"]


@pytest.mark.parametrize(
    "body, status",
    [
        ({"product": "nope", "provider": "btcpay", "currency": "BTC"}, 422),
        ({"product": "starter", "provider": "paypal", "currency": "BTC"}, 422),
        ({"product": "starter", "provider": "btcpay", "currency": "DOGE"}, 422),
    ],
)
def test_bad_payment_requests_are_problems(paying_client, buyer, body, status):
    response = paying_client.post("/v1/payments", headers=buyer, json=body)
    assert response.status_code == status and response.mimetype == "application/problem+json"


def test_an_unconfigured_provider_is_422_and_an_unreachable_one_502(client, base_env, buyer):
    assert (
        client.post(
            "/v1/payments", headers=buyer, json={"product": "starter", "provider": "btcpay", "currency": "BTC"}
        ).status_code
        == 422
    )
    from web import create_app
    from tests.support import free_port

    down = create_app(
        {**base_env, "NOWPAYMENTS_API_URL": f"http://127.0.0.1:{free_port()}", "NOWPAYMENTS_API_KEY": "k"}
    )
    response = down.test_client().post(
        "/v1/payments", headers=buyer, json={"product": "starter", "provider": "nowpayments", "currency": "BTC"}
    )
    assert response.status_code == 502 and response.mimetype == "application/problem+json"


def test_another_accounts_payment_is_404(paying_client, sessions, buyer, other_account):
    payment = paying_client.post(
        "/v1/payments", headers=buyer, json={"product": "starter", "provider": "btcpay", "currency": "BTC"}
    ).get_json()
    assert (
        paying_client.get(f"/v1/payments/{payment['id']}", headers=billing_headers(sessions, other_account)).status_code
        == 404
    )
    assert paying_client.get("/v1/payments/not-a-uuid", headers=buyer).status_code == 404
