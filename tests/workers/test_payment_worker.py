"""The payment worker: isolated from the core worker, credits once across a SIGKILL, dead-letters what keeps failing."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text

from smartcompute.billing import ledger
from smartcompute.billing.models import LedgerEntry, WebhookEvent
from tests.billing.conftest import balance, deliver, open_payment, payment_row
from tests.conftest import make_account
from tests.support import REPO, celery_worker, wait_until
from workers.celery_app import PROCESS_PAYMENT_EVENT

PAYMENT_APP = "workers.payment_worker"


@pytest.fixture
def payment_env(base_env):
    return {**base_env, "BROKER_KEY_PREFIX": f"{base_env['BROKER_KEY_PREFIX']}pw{uuid.uuid4().hex[:6]}:",
            "BROKER_VISIBILITY_TIMEOUT": "3", "REPUBLISH_INTERVAL": "1", "REPUBLISH_UNSENT_AFTER": "1"}


def api(env):
    from web import create_app

    return create_app(env)


def test_the_core_worker_has_no_payment_tasks_queue_or_secrets(base_env):
    probe = ("import json, workers; from workers.celery_app import app_settings; s = app_settings(workers.app); "
             "print(json.dumps({'tasks': sorted(workers.app.tasks), 'queues': [q.name for q in workers.app.conf.task_queues], "
             "'secrets': [getattr(s, n) for n in ('PAYMENT_WEBHOOK_SECRET', 'COINBASE_COMMERCE_WEBHOOK_SECRET', "
             "'BTCPAY_WEBHOOK_SECRET', 'NOWPAYMENTS_IPN_SECRET', 'STANDARD_WEBHOOKS_SECRET')]}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env={**os.environ, **base_env},
                         capture_output=True, text=True, check=True).stdout
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
        self.connection.execute(text("SELECT 1 FROM credit_balances WHERE account_id = :a FOR UPDATE"), {"a": account_id})

    def release(self):
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def waiting_on_a_lock(sessions) -> int:
    with sessions() as session:
        return session.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND wait_event_type = 'Lock' AND application_name = 'smartcompute'"))


def test_a_worker_sigkilled_mid_credit_credits_once_after_redelivery(payment_env, database_url, sessions, tmp_path):
    account = make_account(sessions, credits=1)
    payment_id = open_payment(sessions, account, "generic")
    lock = RowLock(database_url, account.account_id)
    try:
        assert deliver(api(payment_env).test_client(), api(payment_env).extensions["smartcompute"].settings,
                       "generic", payment_id, "confirmed").status_code == 200
        with celery_worker(payment_env, tmp_path, queues="payment-webhook", app=PAYMENT_APP, name="doomed") as doomed:
            wait_until(lambda: waiting_on_a_lock(sessions) >= 1, 30, "the worker to block mid-credit")
            os.killpg(doomed.process.pid, signal.SIGKILL)
            doomed.process.wait(10)
    finally:
        lock.release()
    wait_until(lambda: waiting_on_a_lock(sessions) == 0, 15, "PostgreSQL to drop the dead worker's transaction")
    assert payment_row(sessions, payment_id).status == "pending" and balance(sessions, account).balance == 1
    with celery_worker(payment_env, tmp_path, queues="payment-webhook", app=PAYMENT_APP, name="survivor"):
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
            return session.scalar(select(WebhookEvent).where(WebhookEvent.normalized["payment_id"].astext == str(unknown)))

    with celery_worker(env, tmp_path, queues="payment-webhook", app=PAYMENT_APP) as worker:
        dead = wait_until(lambda: (row := event()) and row.status == "dead" and row, 30, "the event to be dead-lettered")
    assert dead.attempts == 2 and "PaymentNotFound" in dead.error
    assert "payment event dead-lettered" in worker.log()
