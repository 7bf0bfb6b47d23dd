"""Credits are the owner's: the billing API needs `billing:read` or `billing:write`, which only owners hold."""

from __future__ import annotations

import pytest

from smartcompute.accounts import services as accounts
from tests.billing.conftest import billing_headers, open_payment
from tests.conftest import make_account
from tests.security.conftest import bearer, sign_in

PURCHASE = {"kind": "pack", "product": "starter", "provider": "btcpay", "currency": "BTC"}


def billing_calls(payment_id) -> list[tuple[str, str, dict | None]]:
    """Every billing endpoint; `payment_id` is the caller's account's own, so a refusal is not a 404 in disguise."""
    return [
        ("get", "/v1/billing/balance", None),
        ("get", "/v1/billing/ledger", None),
        ("get", "/v1/payments", None),
        ("get", f"/v1/payments/{payment_id}", None),
        ("post", "/v1/payments", PURCHASE),
    ]


def call(client, method: str, path: str, body: dict | None, headers: dict[str, str]):
    send = getattr(client, method)
    return send(path, json=body, headers=headers) if body else send(path, headers=headers)


def assert_forbidden(response, path: str) -> None:
    assert response.status_code == 403, path
    assert response.mimetype == "application/problem+json", path


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_analysts_and_viewers_are_refused_every_billing_endpoint(paying_client, sessions, account, role):
    payment_id = open_payment(sessions, account)
    token = bearer(sign_in(paying_client, make_account(sessions, role=role, account_of=account))["access_token"])
    for method, path, body in billing_calls(payment_id):
        assert_forbidden(call(paying_client, method, path, body, token), path)


def test_an_owner_signed_in_uses_every_billing_endpoint(paying_client, sessions, account):
    payment_id = open_payment(sessions, account)
    token = bearer(sign_in(paying_client, account)["access_token"])
    answers = [
        call(paying_client, method, path, body, token).status_code for method, path, body in billing_calls(payment_id)
    ]
    assert answers == [200, 200, 200, 200, 201]


def test_an_owners_read_only_billing_key_reads_the_balance_but_cannot_buy(paying_client, sessions, account):
    reader = billing_headers(sessions, account, scopes=("billing:read",))
    assert paying_client.get("/v1/billing/balance", headers=reader).status_code == 200
    assert_forbidden(paying_client.post("/v1/payments", json=PURCHASE, headers=reader), "/v1/payments")


def test_a_key_with_jobs_scopes_only_is_refused_every_billing_endpoint(paying_client, sessions, account):
    payment_id = open_payment(sessions, account)
    for method, path, body in billing_calls(payment_id):  # account.headers: make_account's jobs:read/jobs:write key
        assert_forbidden(call(paying_client, method, path, body, account.headers), path)


def test_an_analysts_key_holding_billing_scopes_is_cut_down_to_the_role(paying_client, sessions, account):
    analyst = make_account(sessions, role="analyst", account_of=account)
    with sessions() as session:  # written straight to the table: as if granted before a demotion
        _, key = accounts.create_api_key(session, analyst.user_id, scopes=("billing:read", "billing:write"))
        session.commit()
    assert_forbidden(paying_client.get("/v1/billing/balance", headers={"X-API-Key": key}), "/v1/billing/balance")


def test_an_owner_can_create_a_key_with_the_billing_scopes(paying_client, account):
    token = bearer(sign_in(paying_client, account)["access_token"])
    response = paying_client.post(
        "/v1/api-keys", json={"name": "books", "scopes": ["billing:read", "billing:write"]}, headers=token
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    new_key = {"X-API-Key": response.get_json()["key"]}
    assert paying_client.get("/v1/billing/balance", headers=new_key).status_code == 200
