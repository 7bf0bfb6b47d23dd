"""A deployment across hosts (network namespaces, tests/hosts.py): jobs submitted from the edge host are done by
core workers on every worker host, a worker host killed outright loses no job and runs none twice, and the zones
hold, which is shown by trying to cross them."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest
from sqlalchemy import create_engine, text

from smartcompute.db import make_engine, make_session_factory
from tests import hosts as test_hosts
from tests.conftest import make_account
from tests.support import wait_until

NOT_HERE = test_hosts.available()
pytestmark = pytest.mark.skipif(
    NOT_HERE is not None and os.environ.get("CI") != "true", reason=f"multi-host test: {NOT_HERE}"
)
HOST_SETTINGS = ("SECRET_KEY", "JWT_SECRET_KEY", "PAYMENT_WEBHOOK_SECRET", "LOG_LEVEL", "PLANS")


@pytest.fixture(scope="module")
def deployment(base_env):
    settings = {name: base_env[name] for name in HOST_SETTINGS}
    settings.update(BROKER_VISIBILITY_TIMEOUT="5", REPUBLISH_INTERVAL="2", REPUBLISH_UNSENT_AFTER="2")
    with test_hosts.network(core_count=2) as hosts, test_hosts.deployment(hosts, settings) as deployment:
        for host in hosts.core_hosts:
            deployment.start_core_worker(host)
        yield deployment


@pytest.fixture(scope="module")
def account(deployment):
    engine = make_engine(deployment.local_database_url)
    yield make_account(make_session_factory(engine))
    engine.dispose()


def successes(deployment, host: str) -> list[str]:
    """The job ids whose analysis the core worker on `host` finished, from its JSON log lines."""
    lines = (json.loads(line) for line in deployment.hosts.log(host).splitlines() if line.startswith("{"))
    return [line["job_id"] for line in lines if line.get("message") == "job finished"]


def test_crossing_a_zone_is_refused_by_the_network_and_allowed_paths_connect(deployment):
    hosts = deployment.hosts
    refused = [
        ("payments", "api", 8000),
        ("payments", "edge", 443),
        ("core-1", "secrets", 8200),
        ("core-1", "api", 8000),
        ("edge", "data", 5432),
        ("edge", "secrets", 8200),
    ]
    allowed = [
        ("payments", "secrets", 8200),
        ("payments", "data", 5432),
        ("api", "secrets", 8200),
        ("core-2", "data", 6379),
        ("edge", "api", 8000),
    ]
    assert {attempt: hosts.connect_error(*attempt) for attempt in refused} == dict.fromkeys(refused, "EHOSTUNREACH")
    assert {attempt: hosts.connect_error(*attempt) for attempt in allowed} == dict.fromkeys(allowed, "connected")


def test_jobs_from_the_edge_are_done_on_every_worker_host_and_none_is_lost(deployment, account):
    submitted = deployment.submit(account.api_key, 120)
    assert len(submitted["ids"]) == 120, submitted["errors"]
    statuses = test_hosts.wait_for_jobs(deployment.local_database_url, submitted["ids"], 120)
    assert set(statuses.values()) == {"succeeded"} and len(statuses) == 120
    by_host = {host: set(successes(deployment, host)) & set(submitted["ids"]) for host in deployment.hosts.core_hosts}
    assert all(by_host.values()), {host: len(ids) for host, ids in by_host.items()}
    assert set.union(*by_host.values()) == set(submitted["ids"])


def test_a_worker_host_killed_mid_run_loses_no_job_and_runs_none_twice(deployment, account):
    hosts = deployment.hosts
    submitted = deployment.submit(account.api_key, 300, points=2000)
    ids = set(submitted["ids"])
    assert len(ids) == 300, submitted["errors"]
    wait_until(lambda: len(set(successes(deployment, "core-2")) & ids) >= 20, 120, "core-2 to be working")
    for pid in hosts.pids("core-2"):  # every process of the host, as a power cut would
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    statuses = test_hosts.wait_for_jobs(deployment.local_database_url, sorted(ids), 180)
    assert set(statuses.values()) == {"succeeded"} and len(statuses) == 300
    finished_twice = Counter(job for host in hosts.core_hosts for job in successes(deployment, host) if job in ids)
    assert max(finished_twice.values()) == 1
    # Only what the killed host held (its one process's job, and the one prefetched) was claimed again.
    assert len(claimed_twice(deployment, ids)) <= 2
    assert time.monotonic() - killed_at < 180


def claimed_twice(deployment, ids: set[str]) -> list[str]:
    engine = create_engine(deployment.local_database_url)
    try:
        with engine.connect() as connection:
            return (
                connection.execute(
                    text("SELECT id::text FROM jobs WHERE id::text = ANY(:ids) AND attempts > 1"), {"ids": sorted(ids)}
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
