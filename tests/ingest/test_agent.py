"""`smartcompute agent` against a real API: its jobs succeed, an API outage (behind nginx, which then answers
503 with Retry-After) loses no batch and duplicates none, and `agent status` shows the host's open incidents."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import func, select

from smartcompute.billing.models import LedgerEntry
from smartcompute.jobs.models import Job
from tests.edge import nginx_edge
from tests.ingest.conftest import SMARTCOMPUTE, client_env, finished_jobs, smartcompute
from tests.support import free_port, gunicorn_server, stop_process_group, wait_until

FAST = {"AGENT_INTERVAL_SECONDS": "0.5", "AGENT_BATCH_SECONDS": "1.5", "AGENT_SHUTDOWN_SECONDS": "5"}


class Agent:
    """`smartcompute agent` in the foreground, as systemd runs it; its JSON log lines are read back."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.log_path = log_path
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                [SMARTCOMPUTE, "agent"], env=env, stdout=log, stderr=log, start_new_session=True
            )

    def lines(self, message: str | None = None) -> list[dict]:
        entries = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.startswith("{")]
        return [entry for entry in entries if message is None or entry["message"] == message]

    def stop(self) -> int:
        os.kill(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(30)
        finally:
            stop_process_group(self.process, grace=1)


def test_the_agent_sends_anomaly_and_threat_jobs_that_succeed(ingest_api, account, tmp_path):
    host = f"agent-{uuid.uuid4().hex[:8]}"
    agent = Agent(
        client_env(
            ingest_api,
            account.api_key,
            AGENT_HOST=host,
            AGENT_SPOOL_DIR=str(tmp_path / "spool"),
            AGENT_THREAT_SECONDS="1.5",
            **FAST,
        ),
        tmp_path / "agent.log",
    )
    wait_until(lambda: len(agent.lines("batch sent")) >= 4, 60, "the agent to send four batches", interval=0.2)
    assert agent.stop() == 0
    assert agent.lines("agent stopped")[0]["batches_waiting"] == 0
    jobs = finished_jobs(ingest_api, account.api_key, [line["job_id"] for line in agent.lines("batch sent")])
    assert {job["status"] for job in jobs} == {"succeeded"} and {job["host"] for job in jobs} == {host}
    anomaly = next(job for job in jobs if job["type"] == "anomaly_detection")
    threat = next(job for job in jobs if job["type"] == "threat_analysis")
    assert {"cpu_percent", "memory_percent", "load1", "disk_percent", "network_in"} <= set(anomaly["result"]["scores"])
    assert 'connections{state="ESTABLISHED"}' in anomaly["result"]["scores"]
    assert threat["result"]["summary"]["processes"] > 0


def test_an_api_outage_loses_no_batch_and_duplicates_none(ingest_env, ingest_worker, account, sessions, tmp_path):
    """The API stops mid-run and the agent is restarted while it is away; once the API is back, every batch of
    both runs is a job, once, charged once."""
    port = free_port()
    with nginx_edge(port) as edge:
        env = client_env(
            edge.url,
            account.api_key,
            SMARTCOMPUTE_CA_FILE=edge.certificate,
            AGENT_HOST="outage-host",
            AGENT_SPOOL_DIR=str(tmp_path / "spool"),
            AGENT_THREAT_SECONDS="0",
            **FAST,
        )
        with gunicorn_server(ingest_env, tmp_path, port=port) as server:
            first = Agent(env, tmp_path / "first.log")
            wait_until(lambda: len(first.lines("batch sent")) >= 2, 60, "two batches to be sent", interval=0.2)
            stop_process_group(server.arbiter, grace=30)
            wait_until(
                lambda: any(
                    "503" in line["error"] for line in first.lines("the API cannot take batches now; retrying")
                ),
                30,
                "a 503 from nginx",
            )
            wait_until(lambda: _unsent(first) >= 2, 30, "batches to wait in the spool", interval=0.2)
        assert first.stop() == 0
        second = Agent(env, tmp_path / "second.log")
        wait_until(lambda: second.lines("batch spooled"), 30, "the restarted agent to spool a batch", interval=0.2)
        assert second.lines("agent started")[0]["batches_waiting"] >= 2
        with gunicorn_server(ingest_env, tmp_path, port=port):
            wait_until(
                lambda: second.lines("batch sent") and _unsent(first, second) == 0,
                60,
                "the spool to empty",
                interval=0.2,
            )
            assert second.stop() == 0
    spooled = [line["idempotency_key"] for agent in (first, second) for line in agent.lines("batch spooled")]
    with sessions() as session:
        jobs = session.execute(
            select(Job.id, Job.idempotency_key, Job.data).where(
                Job.account_id == account.account_id, Job.host == "outage-host"
            )
        ).all()
    assert sorted(job.idempotency_key for job in jobs) == sorted(set(spooled)) and len(spooled) == len(set(spooled))
    for run in (first, second):
        starts = sorted(float(line["idempotency_key"].rsplit(":", 1)[1]) for line in run.lines("batch spooled"))
        data = {float(job.idempotency_key.rsplit(":", 1)[1]): job.data["timestamps"] for job in jobs}
        for earlier, later in zip(starts, starts[1:]):  # each batch starts where the one before ended
            assert 0 < data[later][0] - data[earlier][-1] < 1.0
    assert _charges(sessions, account, len(jobs)) == len(jobs)


def test_agent_status_prints_the_hosts_open_incidents(ingest_api, account, tmp_path):
    rng = np.random.default_rng(5)
    cpu = np.concatenate([40 + 4 * rng.standard_normal(200), 92 + rng.standard_normal(40)]).round(2)
    data = {
        "timestamps": [1_767_225_600 + 60 * i for i in range(240)],
        "host": "busy-host",
        "metrics": {"cpu_percent": cpu.tolist()},
    }
    submitted = httpx.post(
        f"{ingest_api}/v1/jobs",
        json={"type": "anomaly_detection", "data": data},
        headers={"X-API-Key": account.api_key},
    ).json()
    assert finished_jobs(ingest_api, account.api_key, [submitted["id"]])[0]["status"] == "succeeded"
    shown = smartcompute(
        ["agent", "status"],
        client_env(ingest_api, account.api_key, AGENT_HOST="busy-host", AGENT_SPOOL_DIR=str(tmp_path)),
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0] == "host busy-host: 1 open incident"
    assert "since 2026-01-01T03:20:00Z" in lines[1] and "cpu_percent" in lines[1] and "level_shift" in lines[1]
    unknown = smartcompute(
        ["agent", "status"],
        client_env(ingest_api, account.api_key, AGENT_HOST="never-seen", AGENT_SPOOL_DIR=str(tmp_path)),
    )
    assert unknown.stdout == "host never-seen: not known to the API yet (none of its jobs has finished)\n"


def _unsent(*agents: Agent) -> int:
    spooled = {line["idempotency_key"] for agent in agents for line in agent.lines("batch spooled")}
    sent = {line["idempotency_key"] for agent in agents for line in agent.lines("batch sent")}
    return len(spooled - sent)


def _charges(sessions, account, jobs: int) -> int:
    """The account's job charges, once the worker has finished (and so charged) the last jobs, or 60 s on."""

    def count() -> int:
        with sessions() as session:
            return session.scalar(
                select(func.count()).where(LedgerEntry.account_id == account.account_id, LedgerEntry.reason == "job")
            )

    try:
        wait_until(lambda: count() >= jobs, 60, "every job to be charged", interval=0.5)
    except AssertionError:
        pass
    return count()
