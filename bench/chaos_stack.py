"""The installation a chaos run works on: private servers, the Procfile's processes, accounts, payments and the
customers' callback receiver; and what is measured of it while it runs and once its work has drained."""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from honcho.environ import parse_procfile
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.chaos_invariants import Check, Run, check_all
from bench.chaos_load import PAID_AMOUNT, PAID_CURRENCY, Load, LoadRecord, PaymentPlan, payment_plan
from bench.chaos_processes import ProcessManager
from bench.chaos_receiver import CallbackReceiver
from bench.chaos_services import PrivatePostgres, PrivateRabbitMQ, PrivateRedis
from smartcompute import maintenance
from smartcompute.accounts import services as accounts
from smartcompute.accounts.models import User
from smartcompute.billing import ledger, payments
from smartcompute.billing.prices import Product
from smartcompute.db import make_engine, make_session_factory
from tests.support import REPO, free_port

BIN = Path(sys.executable).parent
REPLICAS = {"web": 1, "worker-core": 1, "worker-payments": 1, "scheduler": 2, "scheduler-payments": 2}


@dataclass
class Stack:
    directory: Path
    env: dict[str, str]
    api: str
    engine: Engine
    postgres: PrivatePostgres
    redis: PrivateRedis
    rabbitmq: PrivateRabbitMQ
    processes: ProcessManager
    receiver: CallbackReceiver
    api_keys: list[str]
    payments: list[PaymentPlan]

    def load(
        self,
        *,
        rate: float,
        clients: int,
        seed: int,
        seconds: float,
        started: float,
        payments: bool = True,
        retry_refused: bool = True,
        callback_share: float = 0.3,
    ) -> Load:
        return Load(
            self.api,
            self.api_keys,
            self.receiver.url,
            rate=rate,
            clients=clients,
            seed=seed,
            webhook_secret=self.env["PAYMENT_WEBHOOK_SECRET"],
            payments=self.payments if payments else [],
            seconds=seconds,
            started=started,
            retry_refused=retry_refused,
            callback_share=callback_share,
        )


@contextmanager
def running_stack(
    env: dict[str, str], seed: int, *, accounts_count: int, payments_count: int, keep: bool, log
) -> Iterator[Stack]:
    """Everything started and ready; stopped and removed (unless `keep`) afterwards. `env` adds settings."""
    directory = Path(tempfile.mkdtemp(prefix="smartcompute-chaos-"))
    directory.chmod(0o755)  # the servers run as their own users, under it
    log(f"chaos: files in {directory}")
    postgres, redis = PrivatePostgres(directory / "postgres"), PrivateRedis(directory / "redis")
    rabbitmq = PrivateRabbitMQ(directory / "rabbitmq")
    try:
        postgres.create()
        redis.start()
        rabbitmq.start()
        with _installation(directory, env, seed, postgres, redis, rabbitmq, accounts_count, payments_count) as stack:
            yield stack
    finally:
        for server in (rabbitmq, redis, postgres):
            try:
                server.close()
            except Exception as error:  # the others must still be stopped
                log(f"chaos: could not stop {type(server).__name__}: {error}")
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _installation(
    directory: Path,
    extra_env: dict[str, str],
    seed: int,
    postgres,
    redis,
    rabbitmq,
    accounts_count: int,
    payments_count: int,
) -> Iterator[Stack]:
    port = free_port()
    env = {**_environment(postgres, redis, rabbitmq, port), **extra_env}
    procfile = parse_procfile((REPO / "Procfile").read_text()).processes
    subprocess.run(procfile["release"], shell=True, cwd=REPO, env=env, check=True, capture_output=True)
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    rng = random.Random(seed)
    sessions = make_session_factory(engine)
    api_keys = _accounts(sessions, accounts_count)
    plans = [payment_plan(str(payment_id), rng) for payment_id in _payments(sessions, payments_count, rng)]
    (directory / "logs").mkdir()
    manager = ProcessManager({name: procfile[name] for name in REPLICAS}, REPLICAS, env, directory / "logs")
    receiver = CallbackReceiver(seed, fail_rate=0.1, hang_rate=0.03, hang_seconds=3)
    manager.start()
    receiver.start()
    try:
        _wait_ready(f"http://127.0.0.1:{port}", manager)
        yield Stack(
            directory,
            env,
            f"http://127.0.0.1:{port}",
            engine,
            postgres,
            redis,
            rabbitmq,
            manager,
            receiver,
            api_keys,
            plans,
        )
    finally:
        manager.stop()
        receiver.stop()
        engine.dispose()


def _environment(postgres, redis, rabbitmq, port: int) -> dict[str, str]:
    plans = ";".join(
        f"{plan}:requests=100000/minute,jobs_per_day=1000000,concurrent_jobs=100000"
        for plan in ("free", "pro", "enterprise")
    )
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": postgres.url("smartcompute"),
        "REDIS_URL": redis.url,
        "BROKER_URL": rabbitmq.url(),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "PORT": str(port),
        "BIND_ADDRESS": "127.0.0.1",
        "WEB_CONCURRENCY": "2",
        "WEB_THREADS": "4",
        "CORE_CONCURRENCY": "2",
        "PAYMENT_CONCURRENCY": "1",
        "CALLBACK_PRIVATE_NETWORKS": "true",
        "CALLBACK_TIMEOUT_SECONDS": "2",
        "PLANS": plans,
        "ANONYMOUS_RATE_LIMIT": "100000/minute",
        "LOG_LEVEL": "INFO",
    }


def _accounts(sessions, count: int) -> list[str]:
    """`count` accounts, each with an API key and more credits than the run can spend."""
    keys = []
    with sessions() as session:
        for index in range(count):
            user_id = accounts.create_user(session, f"chaos-{index}-{secrets.token_hex(4)}@example.test", plan="pro")
            _, key = accounts.create_api_key(session, user_id)
            session.commit()
            account_id = session.get(User, user_id).account_id
            ledger.grant(session, account_id, 10**9, f"chaos-grant:{account_id}", note="chaos harness credits")
            session.commit()
            keys.append(key)
    return keys


def _payments(sessions, count: int, rng: random.Random) -> list:
    """Pending payments of some of the accounts, which the provider's webhooks then settle."""
    product = Product("pack", "starter", 1000, Decimal(PAID_AMOUNT), PAID_CURRENCY)
    with sessions() as session:
        account_ids = list(session.execute(text("SELECT id FROM accounts")).scalars())
        return [
            payments.open_payment(
                session,
                account_id=rng.choice(account_ids),
                user_id=None,
                product=product,
                provider="generic",
                pay_currency="BTC",
                expiry=timedelta(days=1),
            ).id
            for _ in range(count)
        ]


def _wait_ready(api: str, manager: ProcessManager, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ready = httpx.get(f"{api}/health/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            ready = False
        if ready and all(" ready." in manager.log(name) for name in ("worker-core", "worker-payments")):
            return
        time.sleep(0.5)
    raise RuntimeError(f"the processes were not ready within {timeout:.0f}s")


class BacklogMonitor:
    """Jobs queued and running, and the oldest queued job's age, every second (skipped while PostgreSQL is down)."""

    _SAMPLE = text(
        "SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), "
        "coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'queued')), 0) "
        "FROM jobs WHERE status IN ('queued', 'running')"
    )

    def __init__(self, engine: Engine, started: float):
        self.samples: list[tuple[float, int, int, float]] = []
        self._engine, self._started = engine, started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="backlog", daemon=True)

    def __enter__(self) -> BacklogMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            try:
                with self._engine.connect() as connection:
                    queued, running, oldest = connection.execute(self._SAMPLE).one()
            except Exception:  # PostgreSQL is down or paused: a gap in the samples
                continue
            self.samples.append((round(time.monotonic() - self._started, 1), queued, running, float(oldest)))


_PENDING_WORK = text("""
    SELECT (SELECT count(*) FROM jobs WHERE status IN ('queued', 'running'))
         + (SELECT count(*) FROM job_callbacks c JOIN jobs j ON j.id = c.job_id
            WHERE j.status IN ('succeeded', 'failed', 'canceled') AND c.delivered_at IS NULL
              AND c.given_up_at IS NULL AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= now()))
         + (SELECT count(*) FROM webhook_events WHERE status = 'received')""")


def drain(engine: Engine, limit: float) -> float | None:
    """Seconds until no job is unfinished, no callback is due and no payment event waits; None past `limit`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            with engine.connect() as connection:
                if connection.execute(_PENDING_WORK).scalar() == 0:
                    return time.monotonic() - started
        except Exception:  # the database is still coming back
            pass
        time.sleep(1)
    return None


def checked(
    stack: Stack,
    record: LoadRecord,
    faults: list,
    backlog: BacklogMonitor,
    load_seconds: float,
    drained_after: float | None,
) -> tuple[Run, list[Check]]:
    """What the run observed, and the invariants checked on it; call once the work has drained."""
    with stack.engine.connect() as connection:
        round_age = maintenance.seconds_since_finished(connection)[maintenance.REPUBLISH_JOBS]
    start_failures = Counter(
        {name: stack.processes.log(name).count("Unrecoverable error: WorkerLostError") for name in REPLICAS}
    )
    run = Run(
        record,
        stack.payments,
        stack.receiver.deliveries,
        faults,
        stack.processes.exits,
        stack.processes.memory,
        backlog.samples,
        stack.rabbitmq.queue_depths(),
        load_seconds,
        drained_after,
        round_age,
        float(stack.env.get("REPUBLISH_INTERVAL", 15)),
        start_failures,
        api_kills=[record.at for record in faults if record.fault.startswith("API")],
    )
    with stack.engine.connect() as connection:
        return run, check_all(connection, run)
