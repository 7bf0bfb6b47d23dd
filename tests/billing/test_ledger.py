"""The credit ledger: holds, charges and releases with jobs; 402 when short; an append-only, summed ledger."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from smartcompute.billing import ledger, prices
from smartcompute.billing.models import CreditBalance
from smartcompute.jobs import lifecycle
from tests.billing.conftest import balance, billing_headers, deliver, ledger_sum, open_payment, process_all
from tests.conftest import make_account
from tests.support import job_body, submit_directly, telemetry


def submit(sessions, account, cost: int) -> uuid.UUID:
    with sessions() as session:
        return submit_directly(session, account, cost=cost)


def grant(sessions, account, amount: int) -> None:
    with sessions() as session:
        ledger.grant(session, account.account_id, amount, f"grant:{uuid.uuid4()}")
        session.commit()


def test_the_price_scales_with_type_and_size(settings):
    assert prices.job_cost(settings, "anomaly_detection", telemetry(200)) == 1 + 1
    assert prices.job_cost(settings, "threat_analysis", telemetry(1500)) == 2 + 3  # 3,000 points


def test_a_job_holds_its_cost_success_charges_it_and_failure_releases_it(sessions, poor_account):
    grant(sessions, poor_account, 10)
    charged, failed, canceled = (submit(sessions, poor_account, 3) for _ in range(3))
    assert (balance(sessions, poor_account).held, balance(sessions, poor_account).available) == (9, 1)
    with sessions() as session:
        for job_id in (charged, failed):
            lifecycle.claim(session, job_id, max_attempts=3)
        lifecycle.succeed(session, charged, {"ok": True})
        lifecycle.fail(session, failed, {"type": "x", "message": "y"})
        lifecycle.cancel(session, canceled)
        session.commit()
    current = balance(sessions, poor_account)
    assert (current.balance, current.held) == (7, 0) and ledger_sum(sessions, poor_account) == 7


def test_too_little_credit_is_402_saying_how_much_is_needed(client, sessions, poor_account):
    grant(sessions, poor_account, 1)
    response = client.post("/v1/jobs", json=job_body(points=200), headers=poor_account.headers)
    assert response.status_code == 402 and response.mimetype == "application/problem+json"
    assert "costs 2 credits and 1 are available" in response.get_json()["detail"]


def test_balance_and_a_paginated_ledger(client, settings, sessions, poor_account):
    for _ in range(3):
        grant(sessions, poor_account, 5)
    payment_id = open_payment(sessions, poor_account, "generic")
    deliver(client, settings, "generic", payment_id, "confirmed")
    process_all(sessions, payment_id)
    headers = billing_headers(sessions, poor_account)
    body = client.get("/v1/billing/balance", headers=headers).get_json()
    assert (body["balance"], body["held"], body["available"]) == (1015, 0, 1015)
    first = client.get("/v1/billing/ledger?limit=2", headers=headers).get_json()
    assert [item["amount"] for item in first["items"]] == [1000, 5] and first["items"][0]["payment_id"] == str(
        payment_id
    )
    rest = client.get(f"/v1/billing/ledger?limit=2&cursor={first['next_cursor']}", headers=headers).get_json()
    assert [item["amount"] for item in rest["items"]] == [5, 5] and rest["next_cursor"] is None
    assert client.get("/v1/billing/ledger?cursor=zzz", headers=headers).status_code == 422


def test_the_ledger_is_append_only_and_never_negative(sessions, poor_account):
    grant(sessions, poor_account, 5)
    with sessions() as session:
        with pytest.raises(IntegrityError):
            ledger.grant(session, poor_account.account_id, -6, f"grant:{uuid.uuid4()}")
        session.rollback()
        with pytest.raises(DBAPIError):
            session.execute(
                text("UPDATE credit_ledger SET amount = 500 WHERE account_id = :a"), {"a": poor_account.account_id}
            )
        session.rollback()
        with pytest.raises(DBAPIError):
            session.execute(text("DELETE FROM credit_ledger WHERE account_id = :a"), {"a": poor_account.account_id})
        session.rollback()
    assert balance(sessions, poor_account).balance == 5 == ledger_sum(sessions, poor_account)


ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("pay"), st.integers(1, 500)),
        st.tuples(st.just("job"), st.integers(1, 120)),
        st.tuples(st.sampled_from(["succeed", "fail", "cancel"]), st.integers(0, 30)),
        st.tuples(st.just("refund"), st.integers(0, 30)),
    ),
    min_size=5,
    max_size=30,
)


@hypothesis_settings(
    max_examples=20,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(actions=ACTIONS)
def test_the_ledger_sum_equals_every_balance_after_a_randomized_run(sessions, actions):
    accounts = [make_account(sessions, credits=0) for _ in range(2)]
    jobs, paid = [], []
    for step, (action, number) in enumerate(actions):
        account = accounts[step % 2]
        with sessions() as session:
            _step(session, account, action, number, jobs, paid)
    with sessions() as session:
        for account in accounts:
            row = session.get(CreditBalance, account.account_id)
            assert (row.balance if row else 0) == ledger.ledger_sum(session, account.account_id)
            assert row is None or 0 <= row.held <= row.balance


def _step(session, account, action, number, jobs, paid) -> None:
    from smartcompute.billing import payments
    from tests.billing.conftest import STARTER

    if action == "pay":
        payment = payments.open_payment(
            session,
            account_id=account.account_id,
            user_id=None,
            product=STARTER,
            provider="generic",
            pay_currency="BTC",
            expiry=timedelta(hours=1),
        )
        payments.apply_event(session, "generic", {"payment_id": str(payment.id), "status": "confirmed"})
        session.commit()
        paid.append(payment.id)
    elif action == "job":
        try:
            jobs.append(submit_directly(session, account, data={}, cost=number))
        except ledger.InsufficientCredits:
            pass
    elif action == "refund" and paid:
        payments.apply_event(session, "generic", {"payment_id": str(paid[number % len(paid)]), "status": "refunded"})
        session.commit()
    elif action in ("succeed", "fail", "cancel") and jobs:
        job_id = jobs[number % len(jobs)]
        lifecycle.claim(session, job_id, max_attempts=3)
        try:
            {
                "succeed": lambda: lifecycle.succeed(session, job_id, {}),
                "fail": lambda: lifecycle.fail(session, job_id, {}),
                "cancel": lambda: lifecycle.cancel(session, job_id),
            }[action]()
        except lifecycle.JobAlreadyFinished:
            pass
        session.commit()
