"""PostgreSQL's CPU per job for the three statements of a job's life, with clients side by side on one account.

    python -m bench.job_statements [--clients 8] [--jobs 400] [--cost 2] [--json out.json]

One run creates a private database (migrated) and one account with credits. Each of `--clients` processes then
runs `--jobs` jobs through the project's own functions, one after another: `submit_job` (as the API does),
then `claim` and `succeed` (as a worker does), each on its own autocommit connection, with a 1,000-point
job's telemetry and the detector's real result for it. The CPU of the serving backends is read from /proc
before the first job and after the last, so this measures PostgreSQL's side alone: the client's Python is
left out. `--cost 0` takes billing out of both statements (as `JOB_PRICES=...=0+0` does). See bench/README.md,
"Job platform".
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.platform_bench import new_bench_user, scratch_database
from bench.procs import cpu_seconds, python_loop_seconds
from tests.support import job_body

_BACKEND_PID = text("SELECT pg_backend_pid()")


def _account(url: str) -> tuple[uuid.UUID, uuid.UUID]:
    """A user whose account can pay for every job of the run: (user id, account id)."""
    from smartcompute.db import make_engine

    engine = make_engine(url)
    with Session(engine) as session:
        user_id, account_id = new_bench_user(session)
        session.commit()
    engine.dispose()
    return user_id, account_id


def _client(url, user_id, account_id, jobs, cost, data, result, ready, start, done, finished) -> None:
    """Runs `jobs` jobs; reports its two backends' pids, then waits so they are still there to be read."""
    from smartcompute.accounts.services import Principal
    from smartcompute.db import make_engine
    from smartcompute.jobs import lifecycle, services
    from workers.runtime import job_lock_key

    principal = Principal(user_id, account_id, "owner", ("jobs:write",))
    engine = make_engine(url, pool_size=2, autocommit=True)
    with engine.connect() as api, engine.connect() as worker:
        ready.put([api.scalar(_BACKEND_PID), worker.scalar(_BACKEND_PID)])
        start.wait()
        for _ in range(jobs):
            job_id = services.submit_job(
                api,
                principal,
                job_type="anomaly_detection",
                data=data,
                priority="normal",
                retention=timedelta(days=1),
                cost=cost,
            ).job_id
            lock_key = job_lock_key(job_id)
            lifecycle.claim(worker, job_id, max_attempts=3, lock_key=lock_key)
            lifecycle.succeed(worker, job_id, result, unlock_key=lock_key)
        done.put(None)
        finished.wait()
    engine.dispose()


def run(clients: int, jobs: int, cost: int) -> dict:
    from smartcompute import analysis

    data = job_body(points=1000)["data"]
    result = analysis.analyze("anomaly_detection", data, max_points=10**6, learn=False).result
    with scratch_database(f"smartcompute_bench_{os.getpid()}_{secrets.token_hex(3)}") as url:
        user_id, account_id = _account(url)
        context = multiprocessing.get_context("fork")
        ready, done = context.Queue(), context.Queue()
        start, finished = context.Event(), context.Event()
        processes = [
            context.Process(
                target=_client, args=(url, user_id, account_id, jobs, cost, data, result, ready, start, done, finished)
            )
            for _ in range(clients)
        ]
        for process in processes:
            process.start()
        backends = [pid for _ in processes for pid in ready.get(timeout=60)]
        before, started = cpu_seconds(backends), time.perf_counter()
        start.set()
        for _ in processes:
            done.get()
        seconds, spent = time.perf_counter() - started, cpu_seconds(backends) - before
        finished.set()
        for process in processes:
            process.join()
    total = clients * jobs
    return {
        "clients": clients,
        "jobs": total,
        "cost": cost,
        "seconds": round(seconds, 2),
        "jobs_per_second": round(total / seconds, 1),
        "backend_cpu_ms_per_job": round(1000 * spent / total, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="processes side by side (default 8)")
    parser.add_argument("--jobs", type=int, default=400, help="jobs per process (default 400)")
    parser.add_argument("--cost", type=int, default=2, help="credits each job holds (default 2; 0: no billing)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    options = parser.parse_args(argv)
    if min(options.clients, options.jobs) < 1 or options.cost < 0:
        parser.error("--clients and --jobs must be at least 1, --cost at least 0")
    loop_before = python_loop_seconds()
    figures = run(options.clients, options.jobs, options.cost)
    figures["python_loop_seconds"] = [loop_before, python_loop_seconds()]
    print(
        f"{figures['clients']} clients on one account, {figures['jobs']} jobs, cost {figures['cost']}: "
        f"PostgreSQL backends {figures['backend_cpu_ms_per_job']:.3f} ms of CPU per job, "
        f"{figures['jobs_per_second']:.0f} jobs/s (machine speed: a fixed Python loop took "
        f"{loop_before:.2f} s before and {figures['python_loop_seconds'][1]:.2f} s after)"
    )
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
