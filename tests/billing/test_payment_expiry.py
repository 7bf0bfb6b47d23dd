"""The expiry sweep: pending payments past their deadline become `expired`; nothing else changes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from sqlalchemy import create_engine, text

from smartcompute.billing import payments
from tests.billing.conftest import balance, deliver, open_payment, payment_row, process_all

OVERDUE = timedelta(minutes=-1)


def sweep(sessions, **options) -> int:
    with sessions() as session:
        return payments.expire_overdue(session, **options)


def test_an_overdue_pending_payment_is_expired(sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, expiry=OVERDUE)
    sweep(sessions)
    assert payment_row(sessions, payment_id).status == "expired"


def test_a_payment_not_yet_due_stays_pending(sessions, poor_account):
    payment_id = open_payment(sessions, poor_account, expiry=timedelta(minutes=5))
    sweep(sessions)
    assert payment_row(sessions, payment_id).status == "pending"


def test_confirmed_and_failed_payments_are_left_alone(client, settings, sessions, poor_account):
    confirmed, failed = (open_payment(sessions, poor_account, expiry=OVERDUE) for _ in range(2))
    deliver(client, settings, "generic", confirmed, "confirmed")
    deliver(client, settings, "generic", failed, "failed")
    for payment_id in (confirmed, failed):
        process_all(sessions, payment_id)
    sweep(sessions)
    assert (payment_row(sessions, confirmed).status, payment_row(sessions, failed).status) == ("confirmed", "failed")


def test_the_sweep_works_in_batches_and_counts_what_it_expired(sessions, poor_account):
    sweep(sessions)  # earlier tests' leftovers, so the count below is this test's alone
    overdue = [open_payment(sessions, poor_account, expiry=OVERDUE) for _ in range(5)]
    assert sweep(sessions, batch_size=2) == 5
    assert {payment_row(sessions, payment_id).status for payment_id in overdue} == {"expired"}


def test_a_payment_locked_by_an_event_being_applied_is_skipped_not_waited_for(database_url, sessions, poor_account):
    locked, free = (open_payment(sessions, poor_account, expiry=OVERDUE) for _ in range(2))
    engine = create_engine(database_url)
    holder, pool = engine.connect(), ThreadPoolExecutor(max_workers=1)
    try:
        holder.execute(text("SELECT 1 FROM payments WHERE id = :id FOR UPDATE"), {"id": locked})
        pool.submit(sweep, sessions).result(timeout=10)  # a sweep that waited for the lock would time out here
        assert (payment_row(sessions, locked).status, payment_row(sessions, free).status) == ("pending", "expired")
    finally:
        holder.rollback()  # before the pool's shutdown, which would otherwise wait on a sweep waiting on us
        holder.close()
        pool.shutdown()
        engine.dispose()
    sweep(sessions)
    assert payment_row(sessions, locked).status == "expired"


def test_the_api_shows_a_payment_the_sweep_expired(client, sessions, account, buyer):
    payment_id = open_payment(sessions, account, expiry=OVERDUE)
    sweep(sessions)
    assert client.get(f"/v1/payments/{payment_id}", headers=buyer).get_json()["status"] == "expired"


def test_a_confirmation_after_the_sweep_expired_the_payment_still_credits(client, settings, sessions, poor_account):
    """The customer paid, only late: money received is credited."""
    payment_id = open_payment(sessions, poor_account, expiry=OVERDUE)
    sweep(sessions)
    deliver(client, settings, "generic", payment_id, "confirmed")
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "confirmed" and balance(sessions, poor_account).balance == 1000
