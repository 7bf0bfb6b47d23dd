"""Scale-out benchmark: jobs/s with 1, 2 and 3 core-worker hosts, on one machine (network namespaces).

    python -m bench.scale_out [--jobs 600] [--points 1000] [--concurrency 1] [--json out.json]

Builds the hosts of tests/hosts.py (PostgreSQL and Redis, the API, the edge, the payment worker, three worker
hosts, the zones enforced by nftables), then for 1, 2 and 3 worker hosts in turn: POSTs `--jobs` jobs from the
edge host and measures jobs/s from the first job's creation to the last one's finish (PostgreSQL's clocks), and
the CPU each part spent per job. Needs root. On a 2-core machine the curve flattens once the workers and the API
share both cores: read the CPU per job, which is what a real host of its own would spend (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

from sqlalchemy import create_engine, text

from bench import procs
from smartcompute.db import make_engine, make_session_factory
from tests import hosts as test_hosts
from tests.conftest import make_account

PLANS = "free:requests=10000000/minute,jobs_per_day=100000000,concurrent_jobs=10000000"
SPAN = """SELECT count(*) FILTER (WHERE status = 'succeeded'),
                 extract(epoch FROM max(finished_at) - min(created_at)) FROM jobs WHERE id::text = ANY(:ids)"""


def cpu_of(hosts: test_hosts.Hosts, names: list[str]) -> float:
    return procs.cpu_seconds([pid for name in names for pid in hosts.pids(name)])


def measure(deployment: test_hosts.Deployment, api_key: str, workers: list[str], jobs: int, points: int) -> dict:
    hosts = deployment.hosts
    parts = {"workers": workers, "api": ["api"], "data": ["data"]}
    before = {part: cpu_of(hosts, names) for part, names in parts.items()}
    submitted = deployment.submit(api_key, jobs, clients=16, points=points)
    statuses = test_hosts.wait_for_jobs(deployment.local_database_url, submitted["ids"], 600)
    spent = {part: cpu_of(hosts, names) - before[part] for part, names in parts.items()}
    engine = create_engine(deployment.local_database_url)
    with engine.connect() as connection:
        succeeded, seconds = connection.execute(text(SPAN), {"ids": submitted["ids"]}).one()
    engine.dispose()
    return {
        "worker_hosts": len(workers),
        "submitted": len(submitted["ids"]),
        "succeeded": succeeded,
        "failed": sum(1 for status in statuses.values() if status != "succeeded"),
        "seconds": round(float(seconds), 2),
        "jobs_per_second": round(succeeded / float(seconds), 1),
        "cpu_ms_per_job": {part: round(1000 * value / max(succeeded, 1), 2) for part, value in spent.items()},
    }


def run(jobs: int, points: int, concurrency: int) -> list[dict]:
    results = []
    settings = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "INFO",
        "PLANS": PLANS,
    }  # INFO: a worker is seen ready when it logs so
    with test_hosts.network(core_count=3) as hosts, test_hosts.deployment(hosts, settings) as deployment:
        engine = make_engine(deployment.local_database_url)
        api_key = make_account(make_session_factory(engine), credits=10**12).api_key
        engine.dispose()
        deployment.submit(api_key, 50, points=points)  # warm the API's pools and imports
        for count, host in enumerate(hosts.core_hosts, start=1):
            deployment.start_core_worker(host, concurrency=concurrency)
            results.append(measure(deployment, api_key, hosts.core_hosts[:count], jobs, points))
            print(f"{count} worker host(s): {results[-1]}", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale_out", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=600, help="jobs per measurement (default 600)")
    parser.add_argument("--points", type=int, default=1000, help="timestamps per job, two metrics (default 1000)")
    parser.add_argument("--concurrency", type=int, default=1, help="prefork processes per worker host (default 1)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    reason = test_hosts.available()
    if reason:
        parser.error(reason)
    before = procs.python_loop_seconds()
    results = run(args.jobs, args.points, args.concurrency)
    print(
        f"machine speed: a fixed Python loop took {before:.2f} s before and {procs.python_loop_seconds():.2f} s after"
    )
    print(
        f"{'worker hosts':>12} {'jobs/s':>7} {'ok':>5} {'fail':>4}  CPU ms/job: {'workers':>7} {'api':>5} {'data':>5}"
    )
    for row in results:
        cpu = row["cpu_ms_per_job"]
        print(
            f"{row['worker_hosts']:>12} {row['jobs_per_second']:7.1f} {row['succeeded']:5} {row['failed']:4}  "
            f"{'':11} {cpu['workers']:7.2f} {cpu['api']:5.2f} {cpu['data']:5.2f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
