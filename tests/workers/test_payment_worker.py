"""The payment worker: isolated from the core worker, credits once across a SIGKILL (on Redis and RabbitMQ),
dead-letters what keeps failing for staff to replay over HTTP, and expires overdue payments on its schedule."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, func, select, text

from smartcompute.accounts.models import User
from smartcompute.billing import ledger, payments
from smartcompute.billing.models import LedgerEntry, WebhookEvent
from tests.billing.conftest import balance, deliver, ledger_sum, open_payment, payment_row
from tests.conftest import make_account
from tests.security.conftest import bearer, sign_in
from tests.support import REPO, celery_worker, wait_until
from workers.celery_app import EXPIRE_PAYMENTS, PROCESS_PAYMENT_EVENT, ROLES, celery_config, for_role

PAYMENT_APP = "workers.payment_worker"


@pytest.fixture
def payment_env(base_env):
    return {
        **base_env,
        "BROKER_KEY_PREFIX": f"{base_env['BROKER_KEY_PREFIX']}pw{uuid.uuid4().hex[:6]}:",
        "BROKER_VISIBILITY_TIMEOUT": "3",
        "REPUBLISH_INTERVAL": "1",
        "REPUBLISH_UNSENT_AFTER": "1",
    }


def api(env):
    from web import create_app

    return create_app(env)


def test_the_core_worker_has_no_payment_tasks_queue_or_secrets(base_env):
    probe = (
        "import json, workers; from workers.celery_app import app_settings; s = app_settings(workers.app); "
        "workers.app.loader.import_default_modules(); "  # the task modules, as the worker imports them
        "print(json.dumps({'tasks': sorted(workers.app.tasks), 'queues': [q.name for q in workers.app.conf.task_queues], "
        "'secrets': [getattr(s, n) for n in ('PAYMENT_WEBHOOK_SECRET', 'COINBASE_COMMERCE_WEBHOOK_SECRET', "
        "'BTCPAY_WEBHOOK_SECRET', 'NOWPAYMENTS_IPN_SECRET', 'STANDARD_WEBHOOKS_SECRET')]}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env={**os.environ, **base_env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out.strip().splitlines()[-1])
    assert PROCESS_PAYMENT_EVENT not in found["tasks"] and not any("payment" in name for name in found["tasks"])
    assert found["queues"] == ["core-analysis"]
    assert found["secrets"] == [None] * 5


def test_the_payment_worker_cannot_be_pointed_at_the_core_queue(payment_env, tmp_path):
    with pytest.raises(AssertionError, match="exited"):
        with celery_worker(payment_env, tmp_path, queues="core-analysis", app=PAYMENT_APP):
            pass


class RowLock:
    """Holds the account's balance row so the worker's credit blocks mid-transaction."""

    def __init__(self, database_url, account_id):
        self.engine = create_engine(database_url)
        self.connection = self.engine.connect()
        self.connection.execute(
            text("SELECT 1 FROM credit_balances WHERE account_id = :a FOR UPDATE"), {"a": account_id}
        )

    def release(self):
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def waiting_on_a_lock(sessions) -> int:
    with sessions() as session:
        return session.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND application_name = 'smartcompute'"
            )
        )


def test_a_worker_sigkilled_mid_credit_credits_once_after_redelivery(private_env, database_url, sessions, tmp_path):
    account = make_account(sessions, credits=1)
    payment_id = open_payment(sessions, account, "generic")
    web = api(private_env)
    lock = RowLock(database_url, account.account_id)
    try:
        assert (
            deliver(
                web.test_client(), web.extensions["smartcompute"].settings, "generic", payment_id, "confirmed"
            ).status_code
            == 200
        )
        with celery_worker(private_env, tmp_path, queues="payment-webhook", app=PAYMENT_APP, name="doomed") as doomed:
            wait_until(lambda: waiting_on_a_lock(sessions) >= 1, 30, "the worker to block mid-credit")
            os.killpg(doomed.process.pid, signal.SIGKILL)
            doomed.process.wait(10)
    finally:
        lock.release()
    wait_until(lambda: waiting_on_a_lock(sessions) == 0, 15, "PostgreSQL to drop the dead worker's transaction")
    assert payment_row(sessions, payment_id).status == "pending" and balance(sessions, account).balance == 1
    with celery_worker(private_env, tmp_path, queues="payment-webhook", app=PAYMENT_APP, name="survivor"):
        wait_until(lambda: payment_row(sessions, payment_id).status == "confirmed", 45, "the redelivered credit")
    with sessions() as session:
        credits = session.scalar(select(func.count()).where(LedgerEntry.payment_id == payment_id))
        assert credits == 1 and ledger.balance_of(session, account.account_id).balance == 1001


def test_an_event_that_keeps_failing_is_dead_lettered(payment_env, sessions, tmp_path):
    env = {**payment_env, "PAYMENT_EVENT_MAX_ATTEMPTS": "2"}
    app = api(env)
    unknown = uuid.uuid4()
    deliver(app.test_client(), app.extensions["smartcompute"].settings, "generic", unknown, "confirmed")

    def event():
        with sessions() as session:
            return session.scalar(
                select(WebhookEvent).where(WebhookEvent.normalized["payment_id"].astext == str(unknown))
            )

    with celery_worker(env, tmp_path, queues="payment-webhook", app=PAYMENT_APP) as worker:
        dead = wait_until(
            lambda: (row := event()) and row.status == "dead" and row, 30, "the event to be dead-lettered"
        )
    assert dead.attempts == 2 and "PaymentNotFound" in dead.error
    assert "payment event dead-lettered" in worker.log()


DEAD_EVENTS = "/v1/admin/payment-events"


def staff_token(client, sessions) -> dict[str, str]:
    """A platform operator signed in with a JWT (API keys never carry staff powers)."""
    operator = make_account(sessions, credits=0)
    with sessions() as session:
        session.get(User, operator.user_id).is_staff = True
        session.commit()
    return bearer(sign_in(client, operator)["access_token"])


def listed_dead_event(client, headers, provider_payment_id: str) -> str | None:
    items = client.get(f"{DEAD_EVENTS}/dead?limit=100", headers=headers).get_json()["items"]
    return next(
        (item["id"] for item in items if item["normalized"]["provider_payment_id"] == provider_payment_id), None
    )


def open_payment_known_to_provider(sessions, account, provider_payment_id: str) -> uuid.UUID:
    payment_id = open_payment(sessions, account, "generic")
    with sessions() as session:
        payments.attach_checkout(session, payment_id, payments.Checkout(provider_payment_id=provider_payment_id))
    return payment_id


def test_staff_replay_a_dead_lettered_event_over_http_and_it_credits_once(payment_env, sessions, tmp_path):
    env = {**payment_env, "PAYMENT_EVENT_MAX_ATTEMPTS": "2"}  # one retry after 2 s of backoff, then dead
    web = api(env)
    client, settings = web.test_client(), web.extensions["smartcompute"].settings
    account = make_account(sessions, credits=1)
    staff, customer = staff_token(client, sessions), bearer(sign_in(client, account)["access_token"])
    invoice = f"inv_{uuid.uuid4().hex[:12]}"  # the provider's id for a payment we do not have yet
    with celery_worker(env, tmp_path, queues="payment-webhook", app=PAYMENT_APP):
        assert deliver(client, settings, "generic", "", "confirmed", provider_payment_id=invoice).status_code == 200
        event_id = wait_until(lambda: listed_dead_event(client, staff, invoice), 30, "staff to see the dead event")
        assert client.get(f"{DEAD_EVENTS}/dead", headers=customer).status_code == 403
        assert client.post(f"{DEAD_EVENTS}/{event_id}/replay", headers=customer).status_code == 403
        payment_id = open_payment_known_to_provider(sessions, account, invoice)
        assert client.post(f"{DEAD_EVENTS}/{event_id}/replay", headers=staff).status_code == 202
        wait_until(lambda: payment_row(sessions, payment_id).status == "confirmed", 30, "the replayed credit")
    with sessions() as session:
        assert session.scalar(select(func.count()).where(LedgerEntry.payment_id == payment_id)) == 1
    assert balance(sessions, account).balance == 1001 == ledger_sum(sessions, account)
    assert listed_dead_event(client, staff, invoice) is None


def test_only_the_payment_worker_schedules_the_expiry_sweep(settings):
    schedules = {role: for_role(celery_config(settings), role, settings)["beat_schedule"] for role in ROLES}
    scheduled = {role: [entry["task"] for entry in schedule.values()] for role, schedule in schedules.items()}
    assert EXPIRE_PAYMENTS in scheduled["payments"]
    assert EXPIRE_PAYMENTS not in scheduled["core"] + scheduled["web"]


def test_the_payment_worker_expires_overdue_payments_on_its_schedule(payment_env, sessions, tmp_path):
    payment_id = open_payment(sessions, make_account(sessions, credits=0), expiry=timedelta(minutes=-1))
    with celery_worker(payment_env, tmp_path, queues="payment-webhook", app=PAYMENT_APP, scheduler=True) as worker:
        wait_until(lambda: payment_row(sessions, payment_id).status == "expired", 30, "the sweep to expire it")
    assert "overdue payments expired" in worker.log()
