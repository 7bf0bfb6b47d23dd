"""Payments held for review: a confirmation that does not say what was paid credits nothing, staff see it and
credit or reject it, and everything is audited."""

from __future__ import annotations

import json
import uuid

import pytest
from sqlalchemy import select

from smartcompute.accounts.models import AuditEvent, User
from smartcompute.billing.models import WebhookEvent
from tests.billing.conftest import balance, deliver, ledger_sum, open_payment, payment_row, process_all
from tests.billing.signing import headers_for
from tests.conftest import make_account
from tests.security.conftest import bearer, sign_in


def generic_confirmation(client, settings, payment_id, **data) -> None:
    """A correctly signed generic confirmation whose data is exactly `data` (besides the payment id)."""
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": "payment.confirmed",
            "data": {"payment_id": str(payment_id), "status": "confirmed", **data},
        }
    ).encode()
    response = client.post(
        "/v1/webhooks/payments/generic",
        data=body,
        headers=headers_for("generic", settings.PAYMENT_WEBHOOK_SECRET, body),
    )
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def staff_headers(client, sessions) -> dict[str, str]:
    staff = make_account(sessions)
    with sessions() as session:
        session.get(User, staff.user_id).is_staff = True
        session.commit()
    return bearer(sign_in(client, staff)["access_token"])


def held(client, settings, sessions, account, **data) -> uuid.UUID:
    payment_id = open_payment(sessions, account, "generic")
    generic_confirmation(client, settings, payment_id, **data)
    process_all(sessions, payment_id)
    assert payment_row(sessions, payment_id).status == "review"
    return payment_id


def test_the_review_is_audited_by_the_payment_worker_and_the_event_stays_linked(
    client, settings, sessions, poor_account
):
    payment_id = held(client, settings, sessions, poor_account, amount="10", currency="EUR")
    assert "EUR" in payment_row(sessions, payment_id).review_reason
    with sessions() as session:
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.target_id == str(payment_id)))
        linked = session.scalars(select(WebhookEvent.status).where(WebhookEvent.payment_id == payment_id)).all()
    assert (event.action, event.actor, event.account_id) == (
        "payment.held_for_review",
        "system:payments",
        poor_account.account_id,
    )
    assert event.details["currency"] == "EUR" and linked == ["processed"]


def test_staff_see_the_queue_and_credit_a_payment_once(client, settings, sessions, poor_account, staff_headers):
    payment_id = held(client, settings, sessions, poor_account, currency="USD")  # no amount at all
    queue = client.get("/v1/admin/payments/review?limit=100", headers=staff_headers).get_json()["items"]
    listed = next(item for item in queue if item["id"] == str(payment_id))
    assert listed["account_id"] == str(poor_account.account_id) and listed["review_reason"]
    decision = {"decision": "credit", "credits": 400, "note": "paid 4 USD, per the provider dashboard"}
    answer = client.post(f"/v1/admin/payments/{payment_id}/review", json=decision, headers=staff_headers)
    assert answer.status_code == 200, answer.get_json()
    assert (answer.get_json()["status"], answer.get_json()["settlement"], answer.get_json()["credited"]) == (
        "confirmed",
        "manual",
        400,
    )
    again = client.post(f"/v1/admin/payments/{payment_id}/review", json=decision, headers=staff_headers)
    assert again.status_code == 404
    assert balance(sessions, poor_account).balance == 400 == ledger_sum(sessions, poor_account)
    owner = bearer(sign_in(client, poor_account)["access_token"])
    events = client.get("/v1/account/audit-events?action=payment.review_resolved", headers=owner).get_json()["items"]
    assert events[0]["details"]["note"] == decision["note"] and events[0]["details"]["credits"] == 400


def test_staff_reject_a_payment_in_review_and_credit_no_more_than_the_product(
    client, settings, sessions, poor_account, staff_headers
):
    payment_id = held(client, settings, sessions, poor_account, amount="-10", currency="USD")
    too_much = client.post(
        f"/v1/admin/payments/{payment_id}/review",
        headers=staff_headers,
        json={"decision": "credit", "credits": 1001, "note": "x"},
    )
    assert too_much.status_code == 422 and too_much.get_json()["errors"][0]["field"] == "credits"
    rejected = client.post(
        f"/v1/admin/payments/{payment_id}/review",
        headers=staff_headers,
        json={"decision": "reject", "note": "a provider test event"},
    )
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "failed"
    assert balance(sessions, poor_account).balance == 0


def test_only_staff_signed_in_reach_the_review_queue(client, settings, sessions, poor_account):
    payment_id = held(client, settings, sessions, poor_account, amount="0", currency="USD")
    owner = bearer(sign_in(client, poor_account)["access_token"])
    assert client.get("/v1/admin/payments/review", headers=owner).status_code == 403
    assert (
        client.post(
            f"/v1/admin/payments/{payment_id}/review", headers=owner, json={"decision": "credit", "note": "mine"}
        ).status_code
        == 403
    )
    shown = client.get(f"/v1/payments/{payment_id}", headers=owner).get_json()  # the owner sees it waiting
    assert (shown["status"], shown["credited"], shown["review_reason"]) == ("review", 0, "the amount paid is zero")


def test_a_later_confirmation_that_can_be_checked_settles_a_payment_in_review(client, settings, sessions, poor_account):
    payment_id = held(client, settings, sessions, poor_account, amount="ten", currency="USD")
    deliver(client, settings, "generic", payment_id, "confirmed", amount="10", currency="USD")
    process_all(sessions, payment_id)
    row = payment_row(sessions, payment_id)
    assert (row.status, row.settlement, row.credited) == ("confirmed", "exact", 1000)
    assert balance(sessions, poor_account).balance == 1000


def test_a_refund_of_a_payment_in_review_takes_nothing_back(client, settings, sessions, poor_account):
    payment_id = held(client, settings, sessions, poor_account, amount="10", currency="JPY")
    deliver(client, settings, "generic", payment_id, "refunded")
    process_all(sessions, payment_id)
    assert (payment_row(sessions, payment_id).status, balance(sessions, poor_account).balance) == ("refunded", 0)
