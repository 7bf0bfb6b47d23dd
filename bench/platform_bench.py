"""Job-platform benchmark: end-to-end jobs/s against a bare Celery pipeline, latency at 100 req/s, and RSS.

    python -m bench.platform_bench [--jobs 2000] [--clients 32] [--brokers rabbitmq,redis] [--json out.json]

One run creates a private PostgreSQL database (migrated with Alembic), RabbitMQ vhost and Redis key prefix,
starts the real API (gunicorn) and workers (celery), and for each broker measures:
  (a) jobs/s from the first POST /v1/jobs to the last `finished_at` of a succeeded job in PostgreSQL, summed
      over the pipeline's turns, with `--clients` closed-loop clients, small anomaly_detection jobs (1,000
      samples, two metrics);
  (b) the same for `bench/bare_pipeline.py` under the same gunicorn and celery settings, both pipelines up at
      once and measured in turns (bare, real, real, bare; half the jobs each), so drift in the machine's
      speed weighs on both alike;
  (c) POST and GET /v1/jobs latency at a fixed rate (open loop, from the scheduled send time): 100 requests/s,
      or half the real pipeline's jobs/s from (a) if that is lower; the bare pipeline's POST and GET latency at
      the same rate, as the reference on this machine; and the real pipeline's through the shipped nginx
      (deploy/nginx, over TLS), as a deployment runs it;
  (d) resident memory of every API and worker process afterwards.
Everything it created is removed at the end. See bench/README.md, "Job platform".
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Iterator

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url

from bench import bare_pipeline, load, procs
from bench.platform_report import report
from config.plans import DEFAULT_PLANS
from tests.edge import Edge, nginx_edge
from tests.support import free_port, job_body, migrate

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("BENCH_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
REAL_API, REAL_WORKERS, REAL_QUEUE = "web:create_app()", "workers", "core-analysis"
BARE_API, BARE_WORKERS = "bench.bare_pipeline:create_app()", "bench.bare_pipeline:celery_app"
CPU_COMPONENTS = {"postgres": "postgres", "rabbitmq": "beam.smp", "redis": "redis-server"}


@dataclass(frozen=True)
class Options:
    jobs: int
    clients: int
    brokers: list[str]
    web_workers: int
    web_threads: int
    concurrency: int
    worker_niceness: int
    rate: float
    latency_seconds: float
    warmup: int
    json_path: Path | None
    extra_env: dict[str, str]


@dataclass(frozen=True)
class Bench:
    """What one run created: its database, broker namespaces, environment and scratch directory."""

    database_url: str
    engine: Engine
    vhost: str
    redis_prefix: str
    env: dict[str, str]
    log_dir: Path

    def broker_url(self, broker: str) -> str:
        return f"{RABBITMQ_URL}/{self.vhost}" if broker == "rabbitmq" else REDIS_URL


# --- setting up and tearing down -----------------------------------------------------------------


@contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A new database of that name, migrated to head; yields its URL and drops it at the end."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        migrate(url, "head")
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def bench_environment(extra_env: dict[str, str]) -> Iterator[Bench]:
    run_id = f"{os.getpid()}_{secrets.token_hex(3)}"
    name = vhost = f"smartcompute_bench_{run_id}"
    prefix = f"smartcompute-bench:{run_id}:"
    with scratch_database(name) as url, _broker_namespaces(vhost, prefix):
        engine = create_engine(url, pool_size=2)
        bare_pipeline.create_tables(engine)
        env = {
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "BROKER_KEY_PREFIX": prefix,
            "SECRET_KEY": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            "BARE_DATABASE_URL": url,
            "BARE_KEY_PREFIX": prefix,
            "PLANS": BENCH_PLANS,
            **extra_env,
        }
        with tempfile.TemporaryDirectory(prefix="platform-bench-") as log_dir:
            yield Bench(url, engine, vhost, prefix, env, Path(log_dir))
        engine.dispose()


@contextmanager
def _broker_namespaces(vhost: str, prefix: str) -> Iterator[None]:
    try:
        _rabbitmqctl("add_vhost", vhost)
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield
    finally:
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
        _delete_redis_keys(prefix)


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True)


def _delete_redis_keys(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


# The load must not be refused by quotas, but it still goes through the rate limiter and the quota checks.
BENCH_PLANS = f"{DEFAULT_PLANS};bench:requests=10000000/minute,jobs_per_day=100000000,concurrent_jobs=10000000"


def new_api_key(engine: Engine) -> tuple[str, str]:
    """A fresh user in a fresh account: (api key, account id). Each phase gets its own, to count its jobs."""
    from smartcompute.accounts import services as accounts
    from smartcompute.accounts.models import Account
    from sqlalchemy.orm import Session

    with Session(engine) as session:
        user_id, account_id = new_bench_user(session)
        _, key = accounts.create_api_key(session, user_id)
        session.get(Account, account_id).plan = "bench"
        session.commit()
    return key, str(account_id)


def new_bench_user(session) -> tuple[uuid.UUID, uuid.UUID]:
    """A new user in a new account with enough credits that billing never refuses a benchmark job:
    (user id, account id). The caller commits."""
    from smartcompute.accounts import services as accounts
    from smartcompute.accounts.models import User
    from smartcompute.billing import ledger

    user_id = accounts.create_user(session, f"bench-{secrets.token_hex(6)}@example.test")
    account_id = session.get(User, user_id).account_id
    ledger.grant(session, account_id, 10**12, f"bench-{account_id}", note="benchmark credits")
    return user_id, account_id


@contextmanager
def pipeline(bench: Bench, opts: Options, broker: str, *, bare: bool) -> Iterator[tuple[str, list[procs.Service]]]:
    """gunicorn + celery for the real or the bare pipeline, same sizes either way; yields (base url, services)."""
    kind = "bare" if bare else "real"
    env = {**bench.env, "BROKER_URL": bench.broker_url(broker), "BARE_BROKER_URL": bench.broker_url(broker)}
    port = free_port()
    started: list[procs.Service] = []
    try:
        started.append(
            procs.start_celery(
                f"{kind}-{broker}-worker",
                BARE_WORKERS if bare else REAL_WORKERS,
                bare_pipeline.QUEUE if bare else REAL_QUEUE,
                env,
                bench.log_dir,
                concurrency=opts.concurrency,
                niceness=opts.worker_niceness,
            )
        )
        started.append(
            procs.start_gunicorn(
                f"{kind}-{broker}-api",
                BARE_API if bare else REAL_API,
                env,
                bench.log_dir,
                port=port,
                workers=opts.web_workers,
                threads=opts.web_threads,
            )
        )
        yield f"http://127.0.0.1:{port}", started
    finally:
        for service in reversed(started):
            service.stop()


# --- measuring --------------------------------------------------------------------------------------


class CpuMeter:
    """CPU seconds spent by each component between start() and stop()."""

    def __init__(self, services: dict[str, procs.Service], broker: str, database: str):
        self.services, self.broker, self.database = services, broker, database

    def _sample(self) -> dict[str, float]:
        sample = {
            name: procs.cpu_seconds([s.process.pid, *procs.descendants(s.process.pid)])
            for name, s in self.services.items()
        }
        sample["postgres"] = postgres_cpu_seconds(self.database)
        sample["broker"] = broker_cpu_seconds(self.broker)
        sample["loadgen"] = sum(os.times()[:2])
        sample["machine_busy"], sample["machine_total"] = procs.machine_cpu_seconds()
        return sample

    def start(self) -> None:
        self.before = self._sample()

    def stop(self) -> dict[str, float]:
        after = self._sample()
        spent = {name: after[name] - self.before[name] for name in after}
        ours = sum(value for name, value in spent.items() if not name.startswith("machine"))
        spent["other"] = max(spent["machine_busy"] - ours, 0.0)  # anything else running on the machine
        return spent


def postgres_cpu_seconds(database: str) -> float:
    """CPU of the backends serving `database` only: other PostgreSQL users of the machine are "other"."""
    return procs.cpu_seconds(procs.pids_named(CPU_COMPONENTS["postgres"], f" {database} "))


def broker_cpu_seconds(broker: str) -> float:
    return procs.cpu_seconds(procs.pids_named(CPU_COMPONENTS[broker]))


def wait_for_jobs(
    engine: Engine, count_sql: str, params: dict, expected: int, timeout: float
) -> tuple[int, int, float]:
    """Poll PostgreSQL until `expected` jobs are finished: (succeeded, failed, last finished_at as epoch)."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as connection:
            succeeded, failed, last = connection.execute(text(count_sql), params).one()
        if succeeded + failed >= expected or time.monotonic() > deadline:
            return succeeded, failed, float(last or 0)
        time.sleep(0.25)


REAL_COUNT = """SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
                       extract(epoch FROM max(finished_at)) FROM jobs WHERE account_id = :account"""
BARE_COUNT = """SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status <> 'succeeded'),
                       extract(epoch FROM max(finished_at)) FROM bare_results"""


@dataclass(frozen=True)
class Submitter:
    """Where one turn posts its jobs and how it counts them: a new API key and account for the real pipeline
    (its jobs are the account's), emptied tables for the bare one."""

    path: str
    headers: dict[str, str]
    count_sql: str
    params: dict[str, str]


BARE_SUBMITTER = Submitter("/jobs", {}, BARE_COUNT, {})


def real_submitter(api_key: str, account: str) -> Submitter:
    """Posts with this API key; the jobs counted are its account's."""
    return Submitter("/v1/jobs", {"X-API-Key": api_key}, REAL_COUNT, {"account": account})


def new_submitter(bench: Bench, *, bare: bool) -> Submitter:
    if bare:
        bare_pipeline.clear_tables(bench.engine)
        return BARE_SUBMITTER
    return real_submitter(*new_api_key(bench.engine))


def throughput(
    bench: Bench, opts: Options, base_url: str, meter: CpuMeter, *, bare: bool, jobs: int, body: bytes
) -> dict:
    """Closed-loop POSTs of `jobs` jobs, then jobs/s from the first POST to the last finished_at."""
    submitter = new_submitter(bench, bare=bare)
    headers, params = submitter.headers, submitter.params
    meter.start()
    sent = load.closed_loop(base_url, submitter.path, body, headers, total=jobs, clients=opts.clients, time_limit=180)
    accepted = len(sent.job_ids)
    succeeded, failed, last = wait_for_jobs(bench.engine, submitter.count_sql, params, accepted, 120)
    cpu = meter.stop()
    seconds = max(last - sent.first_send, 1e-9)
    return {
        "jobs": jobs,
        "accepted": accepted,
        "succeeded": succeeded,
        "failed": failed,
        "http_errors": sent.errors,
        "seconds": round(seconds, 3),
        "jobs_per_second": round(succeeded / seconds, 1),
        "posts_per_second": round(accepted / max(sent.last_response - sent.first_send, 1e-9), 1),
        "cpu_ms_per_job": {
            name: round(1000 * value / max(succeeded, 1), 2)
            for name, value in cpu.items()
            if not name.startswith("machine")
        },
        "machine_cpu_busy": round(cpu["machine_busy"] / max(cpu["machine_total"], 1e-9), 3),
        "other_cpu_share": round(cpu["other"] / max(cpu["machine_total"], 1e-9), 3),
        "api_key": headers.get("X-API-Key"),
        "account": params.get("account"),
        "job_ids": sent.job_ids,
    }


# Bare and real alternate in ABBA order, half the jobs per turn: the VM's speed drifts by tens of percent within
# minutes, and a linear drift then weighs on both pipelines alike instead of on whichever ran second.
TURNS = ("bare", "real", "real", "bare")


def measure_broker(bench: Bench, opts: Options, broker: str, body: bytes) -> dict:
    """Both pipelines up at once; warm each, then the ABBA turns; then latency and memory (both)."""
    with (
        pipeline(bench, opts, broker, bare=True) as (bare_url, (bare_worker, bare_api)),
        pipeline(bench, opts, broker, bare=False) as (real_url, (real_worker, real_api)),
    ):
        database = make_url(bench.database_url).database
        sides = {
            "bare": (bare_url, CpuMeter({"api": bare_api, "worker": bare_worker}, broker, database)),
            "real": (real_url, CpuMeter({"api": real_api, "worker": real_worker}, broker, database)),
        }
        for kind, (base_url, meter) in sides.items():  # imports, pools, keep-alive connections; not counted
            throughput(bench, opts, base_url, meter, bare=kind == "bare", jobs=opts.warmup, body=body)
        turns: dict[str, list[dict]] = {"bare": [], "real": []}
        for index, kind in enumerate(TURNS):
            jobs = opts.jobs // 2 if index < 2 else opts.jobs - opts.jobs // 2
            base_url, meter = sides[kind]
            print(f"[{broker}] {kind} pipeline, {jobs} jobs ...", file=sys.stderr, flush=True)
            turns[kind].append(throughput(bench, opts, base_url, meter, bare=kind == "bare", jobs=jobs, body=body))
        results = {kind: combined(measured) for kind, measured in turns.items()}
        for kind, result in results.items():
            if not result["accepted"]:
                raise RuntimeError(f"{kind} {broker}: no job was accepted: {result['http_errors']}")
        # At 100/s, or half what the real pipeline just ran if that is lower: latency at a load it can carry.
        rate = min(opts.rate, results["real"]["jobs_per_second"] / 2)
        real_port = int(real_url.rsplit(":", 1)[1])
        with nginx_edge(
            real_port,
            NGINX_REQUESTS_PER_SECOND="1000000",
            NGINX_REQUEST_BURST="1000000",
            NGINX_CONNECTIONS_PER_ADDRESS="60000",
        ) as edge:
            figures = latency(
                bench,
                opts,
                {"bare": bare_url, "real": real_url, "edge": edge.url},
                body,
                {kind: measured[-1] for kind, measured in turns.items()},
                rate,
                edge,
            )
        for kind in ("bare", "real"):
            results[kind]["latency"] = figures[kind]
        results["real"]["latency_through_nginx"] = figures["edge"]
        results["latency_rate"] = round(rate, 1)
        results["bare"]["rss_mib"] = {"api": bare_api.rss_mib(), "worker": bare_worker.rss_mib()}
        results["real"]["rss_mib"] = {"api": real_api.rss_mib(), "worker": real_worker.rss_mib()}
    return results


def combined(turns: list[dict]) -> dict:
    """One pipeline's turns as one measurement: jobs/s over the turns' total time, CPU per job over all jobs."""
    succeeded, seconds = sum(t["succeeded"] for t in turns), sum(t["seconds"] for t in turns)
    errors = sum((Counter(t["http_errors"]) for t in turns), Counter())
    cpu_names = turns[0]["cpu_ms_per_job"]
    return {
        "jobs": sum(t["jobs"] for t in turns),
        "accepted": sum(t["accepted"] for t in turns),
        "succeeded": succeeded,
        "failed": sum(t["failed"] for t in turns),
        "http_errors": dict(errors),
        "seconds": round(seconds, 3),
        "jobs_per_second": round(succeeded / max(seconds, 1e-9), 1),
        "turns_jobs_per_second": [t["jobs_per_second"] for t in turns],
        "cpu_ms_per_job": {
            name: round(sum(t["cpu_ms_per_job"][name] * t["succeeded"] for t in turns) / max(succeeded, 1), 2)
            for name in cpu_names
        },
        "machine_cpu_busy": round(sum(t["machine_cpu_busy"] * t["seconds"] for t in turns) / max(seconds, 1e-9), 3),
        "other_cpu_share": round(sum(t["other_cpu_share"] * t["seconds"] for t in turns) / max(seconds, 1e-9), 3),
    }


def latency(
    bench: Bench, opts: Options, urls: dict[str, str], body: bytes, last_turns: dict[str, dict], rate: float, edge: Edge
) -> dict:
    """Each pipeline's POSTs, then GETs of its finished jobs, at a fixed `rate` for `opts.latency_seconds`, open
    loop: {kind: {"post": ..., "get": ...}}, where kind `edge` is the real pipeline through the shipped nginx
    (TLS, buffering, its limits set out of the way).

    The bare pipeline's figures are the reference for the real one's: what a tutorial's endpoints reach on this
    machine in this run. POST rounds go bare, real, edge, GET rounds edge, real, bare, so a steady drift in the
    VM's speed weighs on them alike; each POST round's jobs finish before the next round starts."""
    count = int(rate * opts.latency_seconds)
    real = real_submitter(last_turns["real"]["api_key"], last_turns["real"]["account"])
    submitters = {"bare": BARE_SUBMITTER, "real": real, "edge": real}
    tls = {"edge": edge.tls()}
    expected = {"bare": last_turns["bare"]["accepted"], "real": last_turns["real"]["accepted"]}
    measured: dict[str, dict] = {"bare": {}, "real": {}, "edge": {}}
    for kind in ("bare", "real", "edge"):
        submitter = submitters[kind]
        post = load.open_loop(
            urls[kind],
            submitter.headers,
            rate=rate,
            count=count,
            tls=tls.get(kind),
            request=lambda client, i, path=submitter.path: client.request(
                "POST", path, data=body, headers={"Content-Type": "application/json"}
            ),
        )
        counted = "bare" if kind == "bare" else "real"  # the edge's jobs are the real pipeline's account's
        expected[counted] += len(post.latencies_ms)
        wait_for_jobs(bench.engine, submitter.count_sql, submitter.params, expected[counted], 120)
        measured[kind]["post"] = _latency_figures(post, count)
    for kind in ("edge", "real", "bare"):
        paths = [
            f"{submitters[kind].path}/{job_id}"
            for job_id in last_turns["bare" if kind == "bare" else "real"]["job_ids"]
        ]
        get = load.open_loop(
            urls[kind],
            submitters[kind].headers,
            rate=rate,
            count=count,
            tls=tls.get(kind),
            request=lambda client, i, paths=paths: client.request("GET", paths[i % len(paths)]),
        )
        measured[kind]["get"] = _latency_figures(get, count)
    return measured


def _latency_figures(run: load.OpenLoopResult, count: int) -> dict:
    return {
        "requests": count,
        "ok": len(run.latencies_ms),
        "errors": run.errors,
        "p50_ms": _round(run.percentile(50)),
        "p95_ms": _round(run.percentile(95)),
        "p99_ms": _round(run.percentile(99)),
        "max_ms": _round(max(run.latencies_ms, default=None)),
        "generator_lag_max_ms": round(run.lag_ms_max, 2),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run(opts: Options) -> dict:
    body = json.dumps(job_body(points=1000)).encode()
    results: dict = {}
    with bench_environment(opts.extra_env) as bench:
        for broker in opts.brokers:
            measured = measure_broker(bench, opts, broker, body)
            rate = measured.pop("latency_rate")
            results[broker] = {
                **measured,
                "turn_order": list(TURNS),
                "latency_rate": rate,
                "ratio": round(measured["real"]["jobs_per_second"] / max(measured["bare"]["jobs_per_second"], 1e-9), 3),
            }
    return results


def parse_options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.platform_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per pipeline and broker (default 2000)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent closed-loop clients (default 32)")
    parser.add_argument("--brokers", default="rabbitmq,redis", help="comma-separated: rabbitmq, redis")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn WEB_CONCURRENCY (default 2)")
    parser.add_argument("--web-threads", type=int, default=8, help="gunicorn WEB_THREADS (default 8)")
    parser.add_argument("--concurrency", type=int, default=4, help="celery --concurrency (default 4)")
    parser.add_argument(
        "--worker-niceness",
        type=int,
        default=19,
        help="CPU niceness of both pipelines' workers (default 19, as the Procfile runs them)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=100.0,
        help="open-loop requests/s, at most (default 100; half the real pipeline's jobs/s if lower)",
    )
    parser.add_argument("--latency-seconds", type=float, default=15.0, help="open-loop duration each (default 15)")
    parser.add_argument("--warmup", type=int, default=200, help="jobs sent and awaited before measuring")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the API and workers, e.g. TASK_EVENTS=false (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    brokers = [b.strip() for b in args.brokers.split(",") if b.strip()]
    if not brokers or set(brokers) - {"rabbitmq", "redis"}:
        parser.error("--brokers takes rabbitmq and/or redis")
    if any("=" not in item for item in args.env):
        parser.error("--env takes NAME=VALUE")
    return Options(
        args.jobs,
        args.clients,
        brokers,
        args.web_workers,
        args.web_threads,
        args.concurrency,
        args.worker_niceness,
        args.rate,
        args.latency_seconds,
        args.warmup,
        args.json,
        dict(item.split("=", 1) for item in args.env),
    )


def main(argv: list[str] | None = None) -> int:
    opts = parse_options(argv)
    # A SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so the processes, database and vhost are removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    before = procs.python_loop_seconds()
    results = run(opts)
    loop_seconds = (before, procs.python_loop_seconds())
    print(report(results, opts, loop_seconds))
    if opts.json_path:
        opts.json_path.write_text(
            json.dumps(
                {
                    "options": {**vars(opts), "json_path": str(opts.json_path)},
                    "python_loop_seconds": loop_seconds,
                    "results": results,
                },
                indent=2,
                default=str,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
