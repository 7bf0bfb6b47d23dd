"""Chaos and soak: the Procfile's processes under steady load while workers, API processes, schedulers, the
broker, Redis and PostgreSQL are killed, crashed, paused and restarted; then every job, charge, credit and
callback is counted.

    python -m bench.chaos [--profile short|full] [--seed N] [--rate JOBS_PER_S] [--json out.json] [--keep]

It starts private PostgreSQL (initdb, a free port), Redis and RabbitMQ servers, migrates with the Procfile's
`release` step, and runs `web`, `worker-core`, `worker-payments` and two replicas each of `scheduler` and
`scheduler-payments` under a process manager that restarts whatever exits (bench/chaos_processes.py). Clients
submit jobs of every type and priority from many accounts, with callbacks to a receiver that sometimes fails or
hangs, and payment webhooks with duplicates and out of order (bench/chaos_load.py), while faults are injected on
a seeded schedule (bench/chaos_faults.py). Then the load stops, the faults end, the receiver heals, and once the
work has drained the invariants are checked from PostgreSQL and the broker and printed as a table
(bench/chaos_invariants.py). It exits 1 if any fails. See bench/README.md, "Chaos".
"""
from __future__ import annotations

import argparse
import json
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
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
from honcho.environ import parse_procfile
from sqlalchemy import text

from bench.chaos_faults import Faults, Services
from bench.chaos_invariants import Check, Run, check_all, table
from bench.chaos_load import Load, payment_plan
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


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: float  # of load and faults
    rate: float  # jobs offered per second
    clients: int
    accounts: int
    payments: int
    faults: dict[str, int]
    drain_seconds: float  # the longest the work may take to drain once the load stops
    env: dict[str, str] = field(default_factory=dict)


SHORT = Profile(
    "short", seconds=45, rate=3, clients=6, accounts=6, payments=8, drain_seconds=90,
    faults={"worker child SIGKILL": 6, "worker main SIGKILL": 2, "API process SIGKILL": 2, "API arbiter SIGKILL": 1,
            "scheduler SIGKILL": 2, "broker restart": 1, "broker kill -9": 1, "broker disk full": 1,
            "Redis restart": 1, "PostgreSQL fast shutdown": 1, "PostgreSQL crash": 1, "PostgreSQL partition": 1},
    # Rounds every 5 s rather than 15, so what an outage left unsent goes out within the short drain.
    env={"REPUBLISH_INTERVAL": "5", "REPUBLISH_UNSENT_AFTER": "5", "REPUBLISH_MISSING_AFTER": "10"},
)
FULL = Profile(
    "full", seconds=600, rate=4, clients=12, accounts=20, payments=60, drain_seconds=300,
    faults={"worker child SIGKILL": 60, "worker main SIGKILL": 10, "API process SIGKILL": 8, "API arbiter SIGKILL": 3,
            "scheduler SIGKILL": 6, "broker restart": 3, "broker kill -9": 2, "broker partition": 2,
            "broker disk full": 2, "Redis restart": 3, "PostgreSQL fast shutdown": 1, "PostgreSQL crash": 1,
            "PostgreSQL partition": 2},
)
PROFILES = {profile.name: profile for profile in (SHORT, FULL)}


@dataclass
class Report:
    profile: str
    seed: int
    checks: list[Check]
    figures: dict

    @property
    def passed(self) -> bool:
        return all(check.verdict != "FAIL" for check in self.checks)


def run(profile: Profile, seed: int, *, keep: bool = False, log=print) -> Report:
    directory = Path(tempfile.mkdtemp(prefix="smartcompute-chaos-"))
    directory.chmod(0o755)  # the servers run as their own users, under it
    log(f"chaos: profile {profile.name}, seed {seed}, {profile.rate} jobs/s for {profile.seconds:.0f} s; "
        f"files in {directory}")
    postgres, redis = PrivatePostgres(directory / "postgres"), PrivateRedis(directory / "redis")
    rabbitmq = PrivateRabbitMQ(directory / "rabbitmq")
    try:
        postgres.create()
        redis.start()
        rabbitmq.start()
        return _run_on(profile, seed, directory, postgres, redis, rabbitmq, log)
    finally:
        for server in (rabbitmq, redis, postgres):
            try:
                server.close()
            except Exception as error:  # the others must still be stopped
                log(f"chaos: could not stop {type(server).__name__}: {error}")
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def _environment(profile: Profile, postgres, redis, rabbitmq, port: int) -> dict[str, str]:
    plans = ";".join(f"{plan}:requests=100000/minute,jobs_per_day=1000000,concurrent_jobs=100000"
                     for plan in ("free", "pro", "enterprise"))
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "DATABASE_URL": postgres.url("smartcompute"),
        "REDIS_URL": redis.url, "BROKER_URL": rabbitmq.url(), "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32), "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        "PORT": str(port), "BIND_ADDRESS": "127.0.0.1", "WEB_CONCURRENCY": "2", "WEB_THREADS": "4",
        "CORE_CONCURRENCY": "2", "PAYMENT_CONCURRENCY": "1", "CALLBACK_PRIVATE_NETWORKS": "true",
        "CALLBACK_TIMEOUT_SECONDS": "2", "PLANS": plans, "ANONYMOUS_RATE_LIMIT": "100000/minute",
        "LOG_LEVEL": "INFO", **profile.env,
    }


def _run_on(profile: Profile, seed: int, directory: Path, postgres, redis, rabbitmq, log) -> Report:
    port = free_port()
    env = _environment(profile, postgres, redis, rabbitmq, port)
    procfile = parse_procfile((REPO / "Procfile").read_text()).processes
    subprocess.run(procfile["release"], shell=True, cwd=REPO, env=env, check=True, capture_output=True)
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    rng = random.Random(seed)
    api_keys = _accounts(make_session_factory(engine), profile.accounts)
    plans = [payment_plan(str(payment_id), rng) for payment_id in _payments(make_session_factory(engine),
                                                                             profile.payments, rng)]
    (directory / "logs").mkdir()
    manager = ProcessManager({name: procfile[name] for name in REPLICAS}, REPLICAS, env, directory / "logs")
    receiver = CallbackReceiver(seed, fail_rate=0.1, hang_rate=0.03, hang_seconds=3)
    manager.start()
    receiver.start()
    try:
        _wait_ready(f"http://127.0.0.1:{port}", manager)
        log("chaos: every process is up; load and faults start")
        started = time.monotonic()
        backlog = _BacklogMonitor(engine, started)
        load = Load(f"http://127.0.0.1:{port}", api_keys, receiver.url, rate=profile.rate, clients=profile.clients,
                    seed=seed, webhook_secret=env["PAYMENT_WEBHOOK_SECRET"], payments=plans, seconds=profile.seconds,
                    started=started)
        faults = Faults(profile.faults, profile.seconds, seed,
                        Services(postgres, redis, rabbitmq, manager), started)
        backlog.start()
        load.start()
        faults.start()
        time.sleep(profile.seconds)
        load.stop(timeout=120)
        faults.join()
        load_seconds = time.monotonic() - started
        receiver.heal()
        log(f"chaos: load and faults over after {load_seconds:.0f} s; draining")
        drained_after = _drain(engine, profile.drain_seconds)
        queue_depths = rabbitmq.queue_depths()
        round_age = _round_age(engine)
    finally:
        manager.stop()
        receiver.stop()
        backlog.stop()
    outcome = Run(load.record, plans, receiver.deliveries, faults.records, manager.exits, manager.memory,
                  backlog.samples, queue_depths, load_seconds, drained_after, round_age,
                  float(env.get("REPUBLISH_INTERVAL", 15)),
                  Counter({name: manager.log(name).count("Could not start worker processes") for name in REPLICAS}),
                  api_kills=[record.at for record in faults.records if record.fault.startswith("API")])
    with engine.connect() as connection:
        checks = check_all(connection, outcome)
    engine.dispose()
    return Report(profile.name, seed, checks, _figures(outcome, manager))


def _accounts(sessions, count: int) -> list[str]:
    """`count` accounts, each with an API key and more credits than the run can spend."""
    keys = []
    with sessions() as session:
        for index in range(count):
            user_id = accounts.create_user(session, f"chaos-{index}-{secrets.token_hex(4)}@example.test",
                                           plan="pro")
            _, key = accounts.create_api_key(session, user_id)
            session.commit()
            account_id = session.get(User, user_id).account_id
            ledger.grant(session, account_id, 10**9, f"chaos-grant:{account_id}", note="chaos harness credits")
            session.commit()
            keys.append(key)
    return keys


def _payments(sessions, count: int, rng: random.Random) -> list:
    """Pending payments of some of the accounts, which the provider's webhooks then settle."""
    product = Product("pack", "starter", 1000, Decimal("10"), "USD")
    with sessions() as session:
        account_ids = list(session.execute(text("SELECT id FROM accounts")).scalars())
        return [payments.open_payment(session, account_id=rng.choice(account_ids), user_id=None, product=product,
                                      provider="generic", pay_currency="BTC", expiry=timedelta(days=1)).id
                for _ in range(count)]


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


class _BacklogMonitor:
    """Jobs queued and running, and the oldest queued job's age, every second (skipped while PostgreSQL is down)."""

    _SAMPLE = text("SELECT count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'), "
                   "coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'queued')), 0) "
                   "FROM jobs WHERE status IN ('queued', 'running')")

    def __init__(self, engine, started: float):
        self.samples: list[tuple[float, int, int, float]] = []
        self._engine, self._started = engine, started
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="backlog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
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


def _drain(engine, limit: float) -> float | None:
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


def _round_age(engine) -> float | None:
    with engine.connect() as connection:
        return maintenance.seconds_since_finished(connection)[maintenance.REPUBLISH_JOBS]


def _figures(outcome: Run, manager: ProcessManager) -> dict:
    return {"load_seconds": round(outcome.load_seconds, 1), "accepted": len(outcome.load.accepted),
            "drained_after": outcome.drained_after, "faults": [asdict(record) for record in outcome.faults],
            "exits": [asdict(exit) for exit in outcome.exits], "backlog": outcome.backlog}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's and the clients' seed")
    parser.add_argument("--rate", type=float, default=None, help="jobs offered per second (default: the profile's)")
    parser.add_argument("--json", type=Path, default=None, help="write the checks and figures here")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, data)")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if args.rate:
        profile = replace(profile, rate=args.rate)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    report = run(profile, seed, keep=args.keep)
    print(table(report.checks))
    if args.json:
        args.json.write_text(json.dumps({"profile": report.profile, "seed": seed, "rate": profile.rate,
                                         "checks": [asdict(check) for check in report.checks],
                                         **report.figures}, indent=1, default=str))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
