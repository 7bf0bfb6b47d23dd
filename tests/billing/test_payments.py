"""The payment state machine: out of order, repeated and concurrent events credit an account exactly once."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, or_, select

from smartcompute.billing import webhooks
from smartcompute.billing.payments import PaymentNotFound
from smartcompute.accounts.models import User
from smartcompute.billing.models import LedgerEntry, WebhookEvent
from tests.conftest import make_account
from tests.security.conftest import bearer, sign_in
from tests.billing.conftest import balance, deliver, ledger_sum, open_payment, payment_row, process_all
from tests.billing.signing import PROVIDERS, body_for, headers_for


def credits_of(sessions, payment_id) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count()).where(LedgerEntry.payment_id == payment_id, LedgerEntry.reason == "payment")
        )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_confirmation_credits_the_account_once(client, settings, sessions, poor_account, provider):
    payment_id = open_payment(sessions, poor_account, provider)
    assert deliver(client, settings, provider, payment_id, "pending").status_code == 200
    assert deliver(client, settings, provider, payment_id, "confirmed").status_code == 200
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "confirmed"
    assert balance(sessions, poor_account).balance == 1000 == ledger_sum(sessions, poor_account)


def test_fifty_concurrent_deliveries_of_one_confirmation_credit_once(client, settings, sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, "coinbase-commerce")
    body = body_for("coinbase-commerce", payment_id=str(payment_id), status="confirmed", event_id="evt_50x")
    headers = headers_for("coinbase-commerce", settings.COINBASE_COMMERCE_WEBHOOK_SECRET, body)
    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(
            pool.map(
                lambda _: (
                    client.post("/v1/webhooks/payments/coinbase-commerce", data=body, headers=headers).status_code
                ),
                range(50),
            )
        )
    assert answers == [200] * 50
    with sessions() as session:
        ids = list(session.scalars(select(WebhookEvent.id).where(WebhookEvent.event_id == "evt_50x")))
    assert len(ids) == 1
    with ThreadPoolExecutor(max_workers=8) as pool:  # eight workers racing to process the one event
        processed = list(pool.map(lambda _: _process(sessions, ids[0]), range(8)))
    assert sum(processed) == 1
    assert credits_of(sessions, payment_id) == 1 and balance(sessions, poor_account).balance == 1000


def test_fifty_distinct_confirmations_of_one_payment_credit_once(client, settings, sessions, poor_account):
    """Different event ids (a provider resending under new ids) are each processed, but credit once."""
    payment_id = open_payment(sessions, poor_account, "generic")
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: deliver(client, settings, "generic", payment_id, "confirmed"), range(50)))
    with sessions() as session:
        ids = list(
            session.scalars(
                select(WebhookEvent.id).where(WebhookEvent.normalized["payment_id"].astext == str(payment_id))
            )
        )
    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(lambda event_id: _process(sessions, event_id), ids)) == 50
    assert credits_of(sessions, payment_id) == 1 and balance(sessions, poor_account).balance == 1000


def test_each_processed_event_is_linked_to_its_payment_however_it_names_it(client, settings, sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, "generic", pay_amount="0.001")
    theirs = payment_row(sessions, payment_id).provider_payment_id
    deliver(client, settings, "generic", payment_id, "pending")  # our id, as we write it
    deliver(client, settings, "generic", str(payment_id).upper(), "pending")  # our id, in capitals
    deliver(client, settings, "generic", "", "confirmed", provider_payment_id=theirs, amount="0.001")  # theirs only
    with sessions() as session:
        ids = list(
            session.scalars(
                select(WebhookEvent.id)
                .where(
                    or_(
                        WebhookEvent.normalized["payment_id"].astext.ilike(str(payment_id)),
                        WebhookEvent.normalized["provider_payment_id"].astext == theirs,
                    )
                )
                .order_by(WebhookEvent.received_at)
            )
        )
    assert [_process(sessions, event_id) for event_id in ids] == [True, True, True]
    with sessions() as session:
        linked = [session.get(WebhookEvent, event_id).payment_id for event_id in ids]
    assert linked == [payment_id] * 3
    assert payment_row(sessions, payment_id).status == "confirmed" and credits_of(sessions, payment_id) == 1


def _process(sessions, event_id) -> bool:
    with sessions() as session:
        return webhooks.process_event(session, event_id)


def test_a_confirmation_arriving_before_its_pending_event(client, settings, sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, "btcpay")
    deliver(client, settings, "btcpay", payment_id, "confirmed")
    process_all(sessions, payment_id)
    deliver(client, settings, "btcpay", payment_id, "pending")
    deliver(client, settings, "btcpay", payment_id, "expired")
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "confirmed"
    assert balance(sessions, poor_account).balance == 1000


def test_a_payment_made_after_expiry_is_still_credited(client, settings, sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, "generic")
    deliver(client, settings, "generic", payment_id, "expired")
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "expired"
    deliver(client, settings, "generic", payment_id, "confirmed")
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "confirmed" and balance(sessions, poor_account).balance == 1000


@pytest.mark.parametrize(
    "paid, settlement, credited",
    [
        ("0.0005", "exact", 1000),
        ("0.000499", "exact", 1000),
        ("0.00025", "underpaid", 500),
        ("0.0009", "overpaid", 1000),
        ("0.0000001", "underpaid", 0),
    ],
)
def test_under_and_over_payment_are_explicit(client, settings, sessions, poor_account, paid, settlement, credited):
    payment_id = open_payment(sessions, poor_account, "nowpayments", pay_amount="0.0005")
    deliver(
        client,
        settings,
        "nowpayments",
        payment_id,
        "confirmed",
        amount=paid,
        provider_payment_id=payment_row(sessions, payment_id).provider_payment_id,
    )
    process_all(sessions, payment_id)
    row = payment_row(sessions, payment_id)
    assert (row.status, row.settlement, row.credited) == ("confirmed", settlement, credited)
    assert balance(sessions, poor_account).balance == credited == ledger_sum(sessions, poor_account)


def test_a_refund_takes_back_what_is_still_spendable(client, settings, sessions, poor_account):
    from tests.support import submit_directly

    payment_id = open_payment(sessions, poor_account, "nowpayments")
    deliver(client, settings, "nowpayments", payment_id, "confirmed")
    process_all(sessions, payment_id)
    with sessions() as session:  # a job waiting to run holds 300
        submit_directly(session, poor_account, scopes=("jobs:write",), cost=300)
    deliver(client, settings, "nowpayments", payment_id, "refunded")
    process_all(sessions, payment_id)
    row = payment_row(sessions, payment_id)
    assert (row.status, row.unrecovered) == ("refunded", 300)
    current = balance(sessions, poor_account)
    assert (current.balance, current.held) == (300, 300) and ledger_sum(sessions, poor_account) == 300


def test_an_event_for_an_unknown_payment_fails_until_dead_lettered_then_replays(
    client, settings, sessions, poor_account
):
    payment_id = uuid.uuid4()
    deliver(client, settings, "generic", payment_id, "confirmed")
    with sessions() as session:
        event_id = session.scalar(
            select(WebhookEvent.id).where(WebhookEvent.normalized["payment_id"].astext == str(payment_id))
        )
    for attempt in range(1, 4):
        with sessions() as session:
            with pytest.raises(PaymentNotFound):
                webhooks.process_event(session, event_id)
            assert webhooks.record_failure(session, event_id, "PaymentNotFound", max_attempts=3) == attempt
    with sessions() as session:
        assert event_id in [event.id for event in webhooks.dead_letters(session)[0]]
        webhooks.replay(session, event_id)
        assert session.get(WebhookEvent, event_id).status == "received"


def _dead_event(client, settings, sessions) -> uuid.UUID:
    payment_id = uuid.uuid4()  # a payment we never opened: processing fails
    deliver(client, settings, "generic", payment_id, "confirmed")
    with sessions() as session:
        event_id = session.scalar(
            select(WebhookEvent.id).where(WebhookEvent.normalized["payment_id"].astext == str(payment_id))
        )
        assert webhooks.record_failure(session, event_id, "PaymentNotFound", max_attempts=1) == 1
    return event_id


def test_staff_page_through_dead_letters_newest_first(client, settings, sessions):
    ours = [_dead_event(client, settings, sessions) for _ in range(3)]
    staff = make_account(sessions)
    with sessions() as session:
        session.get(User, staff.user_id).is_staff = True
        session.commit()
    headers = bearer(sign_in(client, staff)["access_token"])
    listed, cursor = [], None
    while True:
        page = client.get(
            "/v1/admin/payment-events/dead",
            headers=headers,
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
        ).get_json()
        assert len(page["items"]) <= 2
        listed += [uuid.UUID(item["id"]) for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [event_id for event_id in listed if event_id in ours] == list(reversed(ours))


def test_dead_letters_are_for_staff_only(client, account):
    assert client.get("/v1/admin/payment-events/dead", headers=account.headers).status_code == 403
