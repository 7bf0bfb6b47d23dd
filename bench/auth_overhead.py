"""What authentication and rate limiting add to `GET /v1/jobs/{id}`: p50 with an API key and with a JWT,
against the same endpoint with auth and limits left out (bench/auth_off_app.py).

    python -m bench.auth_overhead [--requests 3000] [--warmup 300] [--json out.json]

One run creates a private database (migrated), starts two gunicorn servers (1 worker, 1 thread each) on
the same code: one as deployed (auth + flask-limiter on Redis), one built by bench/auth_off_app.py. A single
client sends keep-alive requests in rounds (off, API key, JWT, in rotating order) so drift hits all three
alike. Target: p50(API key) - p50(off) <= 1 ms and p50(JWT) - p50(off) <= 1 ms. See bench/README.md.
"""

from __future__ import annotations

import argparse
import http.client
import json
import secrets
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.orm import Session

from bench import procs
from bench.platform_bench import bench_environment
from tests.support import free_port

TARGET_MS = 1.0
UNLIMITED = ";".join(f"{plan}:requests=100000000/minute" for plan in ("free", "pro", "enterprise"))


def _fixture(engine) -> tuple[str, str, str, str]:
    """A user with a password and an API key, and one finished job of theirs: (user id, email, key, job id)."""
    from smartcompute.accounts import services as accounts
    from smartcompute.accounts.models import User
    from smartcompute.db import utcnow
    from smartcompute.jobs.models import Job

    email, password = f"bench-{secrets.token_hex(6)}@example.test", secrets.token_urlsafe(16)
    with Session(engine) as session:
        user_id = accounts.create_user(session, email, password=password)
        _, key = accounts.create_api_key(session, user_id)
        account_id, now = session.get(User, user_id).account_id, utcnow()
        job = Job(
            id=uuid.uuid4(),
            account_id=account_id,
            user_id=user_id,
            type="anomaly_detection",
            priority="normal",
            status="succeeded",
            progress=1.0,
            data={"timestamps": [1], "metrics": {}},
            result={"score": 0.1},
            created_at=now,
            started_at=now,
            finished_at=now,
            expires_at=now + timedelta(days=1),
            updated_at=now,
        )
        session.add(job)
        session.commit()
        return str(user_id), f"{email}\n{password}", key, str(job.id)


def _timed_get(client: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    # The standard library's client: its own CPU per request is a fraction of httpx's, and on two shared
    # cores a heavy client delays the server it is measuring.
    started = time.perf_counter()
    client.request("GET", path, headers=headers)
    response = client.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}: {body[:300]!r}")
    return elapsed


def _measure(clients: dict[str, tuple[httpx.Client, dict]], path: str, requests: int, warmup: int) -> dict:
    samples: dict[str, list[float]] = {mode: [] for mode in clients}
    modes = list(clients)
    for round_number in range(warmup + requests):
        order = modes[round_number % len(modes) :] + modes[: round_number % len(modes)]
        for mode in order:
            client, headers = clients[mode]
            elapsed = _timed_get(client, path, headers)
            if round_number >= warmup:
                samples[mode].append(elapsed)
    return {mode: _summary(values) for mode, values in samples.items()}


def _summary(values: list[float]) -> dict:
    cuts = statistics.quantiles(values, n=100)
    return {
        "p50_ms": round(statistics.median(values), 3),
        "p90_ms": round(cuts[89], 3),
        "p99_ms": round(cuts[98], 3),
        "n": len(values),
    }


def run(requests: int, warmup: int) -> dict:
    with bench_environment({"LOG_LEVEL": "WARNING", "PLANS": UNLIMITED}) as bench:
        bench.env["RATE_LIMIT_KEY_PREFIX"] = f"{bench.redis_prefix}rl"
        user_id, credentials, key, job_id = _fixture(bench.engine)
        on_port = free_port()
        on = procs.start_gunicorn(
            "api-auth-on", "web:create_app()", bench.env, bench.log_dir, port=on_port, workers=1, threads=1
        )
        off_port = free_port()  # picked once the first server holds its port, so the two never collide
        off = procs.start_gunicorn(
            "api-auth-off",
            "bench.auth_off_app:create_app()",
            {**bench.env, "BENCH_USER_ID": user_id},
            bench.log_dir,
            port=off_port,
            workers=1,
            threads=1,
        )
        try:
            email, password = credentials.split("\n")
            token = httpx.post(
                f"http://127.0.0.1:{on_port}/v1/auth/token", json={"email": email, "password": password}
            ).json()["access_token"]
            on_client, off_client = (http.client.HTTPConnection("127.0.0.1", port) for port in (on_port, off_port))
            clients = {
                "off": (off_client, {}),
                "api_key": (on_client, {"X-API-Key": key}),
                "jwt": (on_client, {"Authorization": f"Bearer {token}"}),
            }
            server_pids = {
                name: [service.process.pid, *procs.descendants(service.process.pid)]
                for name, service in (("on", on), ("off", off))
            }
            cpu_before = {name: procs.cpu_seconds(pids) for name, pids in server_pids.items()}
            try:
                results = _measure(clients, f"/v1/jobs/{job_id}", requests, warmup)
                rounds = requests + warmup
                results["server_cpu_ms_per_request"] = {
                    "off": round((procs.cpu_seconds(server_pids["off"]) - cpu_before["off"]) * 1000 / rounds, 3),
                    "on (API key and JWT alike)": round(
                        (procs.cpu_seconds(server_pids["on"]) - cpu_before["on"]) * 1000 / (2 * rounds), 3
                    ),
                }
            finally:
                on_client.close()
                off_client.close()
        finally:
            on.stop()
            off.stop()
    for mode in ("api_key", "jwt"):
        results[mode]["p50_overhead_ms"] = round(results[mode]["p50_ms"] - results["off"]["p50_ms"], 3)
    results["target_met"] = all(results[mode]["p50_overhead_ms"] <= TARGET_MS for mode in ("api_key", "jwt"))
    return results


def report(results: dict) -> str:
    lines = ["| mode | p50 ms | p90 ms | p99 ms | p50 overhead ms |", "|---|---|---|---|---|"]
    for mode in ("off", "api_key", "jwt"):
        row = results[mode]
        lines.append(
            f"| {mode} | {row['p50_ms']} | {row['p90_ms']} | {row['p99_ms']} | {row.get('p50_overhead_ms', '-')} |"
        )
    lines.append(f"server CPU ms per request: {results['server_cpu_ms_per_request']}")
    lines.append(f"target (p50 overhead <= {TARGET_MS} ms, both): {'met' if results['target_met'] else 'NOT met'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per mode")
    parser.add_argument("--warmup", type=int, default=300, help="unmeasured rounds first")
    parser.add_argument("--json", type=Path, help="also write the results here")
    options = parser.parse_args(argv)
    results = run(options.requests, options.warmup)
    print(report(results))
    if options.json:
        options.json.write_text(json.dumps(results, indent=2))
    return 0 if results["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
