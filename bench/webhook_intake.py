"""Payment webhook intake benchmark: verified deliveries/s with 32 senders, p99 at a steady 100/s, and
whether the payment worker keeps up (no growing backlog).

    python -m bench.webhook_intake [--broker redis|rabbitmq] [--deliveries 5000] [--clients 32] [--rate 100]

Starts the real API (gunicorn) and payment worker (celery -A workers.payment_worker) on a private database
and broker namespace (Redis key prefix or RabbitMQ vhost); every delivery is a distinct, correctly signed
`generic` event (HMAC-SHA256 over the raw body), so each one is verified, stored (one INSERT, committed) and
published after its 200. The steady phase sends confirmations of real pending payments, so processing
includes the payment transition and ledger credit; its CPU per delivery and the machine's busy share show
whether a backlog left at its end comes from full CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench import load, procs
from bench.platform_bench import CpuMeter, bench_environment
from tests.support import free_port

WEBHOOK_PATH = "/v1/webhooks/payments/generic"


def signed(secret: str, payment_id: str, status: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex}",
            "type": f"payment.{status}",
            "data": {"payment_id": payment_id, "status": status},
        }
    ).encode()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Webhook-Signature": signature, "Content-Type": "application/json"}


async def burst(url: str, deliveries: list, clients: int) -> tuple[float, int]:
    queue, errors = list(reversed(deliveries)), [0]

    async def sender(session):
        while queue:
            body, headers = queue.pop()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                errors[0] += response.status != 200

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(clients)))
    return len(deliveries) / (time.perf_counter() - started), errors[0]


def steady(base_url: str, deliveries: list, rate: float) -> load.OpenLoopResult:
    """The deliveries at a fixed rate, open loop (bench/load.py): latency counts from each scheduled send."""
    return load.open_loop(
        base_url,
        {},
        rate=rate,
        count=len(deliveries),
        request=lambda client, index: client.request(
            "POST", WEBHOOK_PATH, data=deliveries[index][0], headers=deliveries[index][1]
        ),
    )


def open_payments(database_url: str, count: int) -> list[str]:
    from smartcompute.accounts import services as accounts
    from smartcompute.billing import payments
    from smartcompute.billing.prices import Product
    from smartcompute.db import make_engine, make_session_factory

    import smartcompute.models  # noqa: F401

    sessions = make_session_factory(make_engine(database_url))
    with sessions() as session:
        user_id = accounts.create_user(session, f"bench-{uuid.uuid4().hex[:8]}@example.test")
        session.commit()
        account_id = session.scalar(text("SELECT account_id FROM users WHERE id = :u"), {"u": user_id})
    product = Product("pack", "starter", 1000, Decimal("10"), "USD")
    ids = []
    with sessions() as session:
        for _ in range(count):
            ids.append(
                str(
                    payments.open_payment(
                        session,
                        account_id=account_id,
                        user_id=None,
                        product=product,
                        provider="generic",
                        pay_currency="BTC",
                        expiry=timedelta(hours=1),
                    ).id
                )
            )
    return ids


def backlog(engine) -> int:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT count(*) FROM webhook_events WHERE status = 'received'"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=19,
        help="CPU niceness of the payment worker (default 19, as the Procfile runs it)",
    )
    parser.add_argument(
        "--broker",
        choices=("redis", "rabbitmq"),
        default="redis",
        help="the Celery broker (default redis, which BROKER_URL defaults to)",
    )
    args = parser.parse_args()
    loop_before = procs.python_loop_seconds()
    secret = secrets.token_urlsafe(32)
    # Every simulated provider sends from 127.0.0.1, far over the per-address limit a real one never reaches.
    with bench_environment(
        {"PAYMENT_WEBHOOK_SECRET": secret, "LOG_LEVEL": "WARNING", "WEBHOOK_RATE_LIMIT_PER_ADDRESS": "100000000/minute"}
    ) as bench:
        env = {**bench.env, "BROKER_URL": bench.broker_url(args.broker)}
        port = free_port()
        services = [
            procs.start_gunicorn(
                "web",
                "web:create_app()",
                env,
                bench.log_dir,
                port=port,
                workers=args.web_workers,
                threads=args.web_threads,
            )
        ]
        try:
            services.append(
                procs.start_celery(
                    "payments",
                    "workers.payment_worker",
                    "payment-webhook",
                    {**env, "LOG_LEVEL": "INFO"},
                    bench.log_dir,
                    concurrency=args.concurrency,
                    niceness=args.worker_niceness,
                )
            )
            result = measure(args, bench, services, f"http://127.0.0.1:{port}", secret)
        finally:
            for service in reversed(services):
                service.stop()
    print(
        json.dumps(
            {"broker": args.broker, "python_loop_seconds": [loop_before, procs.python_loop_seconds()], **result},
            indent=2,
        )
    )


def measure(args, bench, services: list, base_url: str, secret: str) -> dict:
    """The burst (with CPU per delivery until the backlog drains), then the steady rate; the figures."""
    engine = bench.engine
    steady_count = int(args.rate * args.seconds)
    payment_ids = open_payments(bench.database_url, steady_count)
    url = base_url + WEBHOOK_PATH
    asyncio.run(burst(url, [signed(secret, payment_ids[i], "pending") for i in range(200)], args.clients))  # warm-up
    deliveries = [signed(secret, payment_ids[i % steady_count], "pending") for i in range(args.deliveries)]
    meter = CpuMeter(
        {"api": services[0], "payment_worker": services[1]}, args.broker, make_url(bench.database_url).database
    )
    meter.start()
    rate, burst_errors = asyncio.run(burst(url, deliveries, args.clients))
    drained_at, left_at_end = time.perf_counter(), backlog(engine)
    while backlog(engine) and time.perf_counter() - drained_at < 120:
        time.sleep(0.1)
    drain_seconds = time.perf_counter() - drained_at
    burst_cpu = meter.stop()
    steady_deliveries = [signed(secret, pid, "confirmed") for pid in payment_ids]
    meter.start()
    steady_run = steady(base_url, steady_deliveries, args.rate)
    steady_cpu = meter.stop()
    backlog_samples = []
    for _ in range(10):
        backlog_samples.append(backlog(engine))
        time.sleep(0.5)
    with engine.connect() as connection:
        credited = connection.scalar(text("SELECT count(*) FROM credit_ledger WHERE reason = 'payment'"))
    return {
        "burst_deliveries_per_s": round(rate, 1),
        "burst_errors": burst_errors,
        "burst_backlog_at_end": left_at_end,
        "burst_backlog_drain_s": round(drain_seconds, 1),
        "burst_cpu_ms_per_delivery": _ms_per_delivery(burst_cpu, args.deliveries),
        "steady_rate": args.rate,
        "steady_p50_ms": round(steady_run.percentile(50), 2),
        "steady_p99_ms": round(steady_run.percentile(99), 2),
        "steady_errors": steady_run.errors,
        "steady_generator_lag_max_ms": round(steady_run.lag_ms_max, 2),
        # With the machine's share busy: whether processing lags because the CPUs are full or for another reason.
        "steady_cpu_ms_per_delivery": _ms_per_delivery(steady_cpu, steady_count),
        "steady_machine_cpu_busy": round(steady_cpu["machine_busy"] / max(steady_cpu["machine_total"], 1e-9), 3),
        "backlog_after_steady": backlog_samples,
        "credited": credited,
        "expected_credits": steady_count,
    }


def _ms_per_delivery(spent: dict[str, float], deliveries: int) -> dict[str, float]:
    return {
        component: round(seconds * 1000 / deliveries, 2)
        for component, seconds in spent.items()
        if not component.startswith("machine")
    }


if __name__ == "__main__":
    main()
