"""`smartcompute import legacy`: the old SmartCompute's database and JSON files become hosts, baselines and
finished jobs, seen through the public API; bad rows are named and left out; importing again adds nothing."""

from __future__ import annotations

import os
from datetime import datetime, UTC

import httpx
import numpy as np
import pytest

from tests.ingest.conftest import finished_jobs, smartcompute
from tests.ingest.legacy_files import OPTIMIZER_ROWS, write_legacy_database, write_legacy_json


@pytest.fixture(scope="module")
def legacy_db(tmp_path_factory):
    return write_legacy_database(tmp_path_factory.mktemp("legacy") / "smartcompute.db", hosts=2, days=2)


@pytest.fixture(scope="module")
def messy_db(tmp_path_factory):
    return write_legacy_database(tmp_path_factory.mktemp("messy") / "smartcompute.db", hosts=2, days=1, messy=True)


def import_legacy(base_env, account, *args: str):
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": base_env["DATABASE_URL"]}
    return smartcompute(["import", "legacy", *map(str, args), "--account-of", account.email], env)


def jobs_of(client, account, **query) -> list[dict]:
    return client.get("/v1/jobs", query_string={"limit": 100, **query}, headers=account.headers).get_json()["items"]


def test_profiles_become_hosts_with_their_hardware_and_a_seeded_baseline(base_env, client, account, legacy_db):
    assert import_legacy(base_env, account, legacy_db.path).returncode == 0
    listed = client.get("/v1/hosts", headers=account.headers).get_json()
    assert [host["name"] for host in listed["items"]] == legacy_db.hosts
    host = client.get(f"/v1/hosts/{legacy_db.hosts[0]}", headers=account.headers).get_json()
    assert host["attributes"]["cpu_model"] == "AMD EPYC 7B13" and host["attributes"]["cpu_cores"] == 8
    assert host["attributes"]["opencl_available"] is True and host["attributes"]["ram_gb"] == 32.0
    assert host["imported"]["source"] == "smartcompute.db" and host["imported"]["table"] == "system_profiles"
    assert host["imported"]["baseline"]["cpu_mean"] == 30.0 and host["imported"]["baseline"]["sample_count"] == 360
    assert host["baseline_updated_at"] is not None and host["open_incidents"] == [] and host["last_job"] is None


def test_detections_and_alerts_become_a_finished_imported_job_per_host_and_day(base_env, client, account, legacy_db):
    printed = import_legacy(base_env, account, legacy_db.path).stdout
    assert f"anomaly_detection jobs: {len(legacy_db.hosts) * legacy_db.days} new" in printed
    jobs = jobs_of(client, account, type="anomaly_detection")
    assert len(jobs) == len(legacy_db.hosts) * legacy_db.days
    assert {job["status"] for job in jobs} == {"succeeded"}
    assert {job["imported"]["table"] for job in jobs} == {"anomaly_detections"}
    first_day = next(
        job for job in jobs if job["host"] == legacy_db.hosts[0] and job["imported"]["day"] == "2025-03-01"
    )
    assert first_day["created_at"].startswith("2025-03-01T00:00") and first_day["finished_at"].startswith(
        "2025-03-01T23:59"
    )
    result = client.get(f"/v1/jobs/{first_day['id']}", headers=account.headers).get_json()["result"]
    assert result["summary"]["points"] == legacy_db.samples_per_host // legacy_db.days
    [incident] = result["incidents"]
    start, end = legacy_db.surges[legacy_db.hosts[0]][0]
    assert (incident["start"], incident["end"]) == (_iso(start), _iso(end))
    assert incident["status"] == "closed" and incident["kind"] == "level_shift" and incident["severity"] == "critical"
    assert incident["metrics"] == ["cpu_percent"] and incident["reference"]["cpu_percent"]["mean"] == 30.0
    assert incident["imported"]["alerts"] == 20 and incident["imported"]["alerts_acknowledged"] == 10
    assert incident["imported"]["acknowledged"] is False and incident["imported"]["messages"][0].startswith("CPU at")
    assert len(result["legacy"]["anomaly_score"]) == result["summary"]["points"]


def test_reports_become_finished_performance_jobs(base_env, client, account, legacy_db):
    import_legacy(base_env, account, legacy_db.path)
    jobs = jobs_of(client, account, type="performance_analysis")
    assert len(jobs) == len(legacy_db.hosts) and {job["imported"]["table"] for job in jobs} == {"performance_reports"}
    report = client.get(f"/v1/jobs/{jobs[0]['id']}", headers=account.headers).get_json()["result"]["report"]
    assert report["type"] == "weekly" and report["data"]["cpu_p95"] == 96.0
    assert report["recommendations"] == ["move the batch job"]


def test_importing_again_adds_nothing(base_env, client, account, legacy_db):
    import_legacy(base_env, account, legacy_db.path)
    before = jobs_of(client, account)
    again = import_legacy(base_env, account, legacy_db.path)
    assert again.returncode == 0
    assert (
        "hosts: 0 new, 2 already there" in again.stdout
        and "baselines: 0 seeded, 2 hosts already had one" in again.stdout
    )
    assert "anomaly_detection jobs: 0 new, 4 imported before" in again.stdout
    assert sorted(job["id"] for job in jobs_of(client, account)) == sorted(job["id"] for job in before)


def test_bad_rows_are_reported_by_table_and_id_and_the_rest_goes_in(base_env, client, account, messy_db):
    printed = import_legacy(base_env, account, messy_db.path)
    assert printed.returncode == 0, printed.stderr
    assert f"bad rows, left out: {len(messy_db.bad_rows)}" in printed.stdout
    for table, row_id, word in messy_db.bad_rows:
        line = next(line for line in printed.stdout.splitlines() if line.startswith(f"  {table} {row_id}: "))
        assert word in line
    jobs = jobs_of(client, account, type="anomaly_detection")
    assert sum(
        client.get(f"/v1/jobs/{job['id']}", headers=account.headers).get_json()["result"]["summary"]["points"]
        for job in jobs
    ) == messy_db.samples_per_host * len(messy_db.hosts)


def test_the_optimizers_data_is_counted_and_not_imported(base_env, account, legacy_db, tmp_path):
    json_counts = write_legacy_json(tmp_path / "legacy-json")
    printed = import_legacy(base_env, account, legacy_db.path, tmp_path / "legacy-json").stdout
    assert "not imported (no counterpart in SmartCompute):" in printed
    for table, rows in OPTIMIZER_ROWS.items():
        assert f"  {table}: {rows} (the compute optimizer's measurements)" in printed
    assert f"  smart_history.json: {json_counts['optimizer_operations']} (the compute optimizer's memory" in printed
    assert f"  data/anomaly_history.json: {json_counts['analysis_records']} (analysis records" in printed


def test_json_files_bring_baselines_and_metric_exports(base_env, client, account, tmp_path):
    counts = write_legacy_json(tmp_path / "legacy-json", host="desk-1")
    printed = import_legacy(base_env, account, tmp_path / "legacy-json", "--json-host", "desk-2").stdout
    assert "  data/desk-1_metrics_history.json 180: timestamp 'not a time' is not a timestamp" in printed
    hosts = {host["name"]: host for host in client.get("/v1/hosts", headers=account.headers).get_json()["items"]}
    assert set(hosts) == {"desk-1", "desk-2"} and hosts["desk-1"]["imported"]["baseline"]["cpu_mean"] == 12.0
    points = {
        job["host"]: client.get(f"/v1/jobs/{job['id']}", headers=account.headers).get_json()["result"]["summary"]
        for job in jobs_of(client, account)
    }
    assert points["desk-1"]["points"] == counts["samples"] and points["desk-1"]["metrics"] == 3
    assert points["desk-2"]["points"] == counts["unnamed_samples"]


def test_a_dry_run_prints_what_would_be_imported_and_writes_nothing(base_env, client, account, legacy_db):
    printed = import_legacy(base_env, account, legacy_db.path, "--dry-run").stdout
    assert "would import:" in printed and "anomaly_detection jobs: 4 new" in printed
    assert printed.rstrip().endswith("dry run: nothing was written")
    assert jobs_of(client, account) == [] and client.get("/v1/hosts", headers=account.headers).get_json()["items"] == []


def test_one_path_that_is_not_a_legacy_database_imports_nothing(base_env, client, account, legacy_db, tmp_path):
    (tmp_path / "notes.db").write_text("not sqlite")
    failed = import_legacy(base_env, account, legacy_db.path, tmp_path / "notes.db")
    assert failed.returncode == 1 and failed.stderr.startswith("Error: notes.db: not a SQLite database")
    assert failed.stderr.count("\n") == 1
    assert jobs_of(client, account) == []


def test_an_unknown_account_is_a_one_line_error(base_env, legacy_db):
    env = {"PATH": os.environ["PATH"], "DATABASE_URL": base_env["DATABASE_URL"]}
    failed = smartcompute(["import", "legacy", str(legacy_db.path), "--account-of", "nobody@example.test"], env)
    assert failed.returncode == 1 and failed.stderr == "Error: no user with email nobody@example.test\n"


def test_a_seeded_baseline_judges_the_hosts_first_new_job_from_its_first_sample(
    base_env, ingest_api, account, legacy_db
):
    import_legacy(base_env, account, legacy_db.path)
    rng = np.random.default_rng(3)  # the host as its legacy baseline knew it (CPU 30 +- 6, memory 55 +- 3)
    cpu, memory = (30 + 6 * rng.standard_normal(60)).round(2), (55 + 3 * rng.standard_normal(60)).round(2)
    cpu[45] = 99.0
    data = {
        "timestamps": [1_767_225_600 + 60 * i for i in range(60)],
        "host": legacy_db.hosts[0],
        "metrics": {"cpu_percent": cpu.tolist(), "memory_percent": memory.tolist()},
    }
    submitted = httpx.post(
        f"{ingest_api}/v1/jobs", json={"type": "anomaly_detection", "data": data}, headers=account.headers
    ).json()
    [job] = finished_jobs(ingest_api, account.api_key, [submitted["id"]])
    assert job["status"] == "succeeded" and job["result"]["summary"]["cold_start_metrics"] == []
    [incident] = job["result"]["incidents"]
    assert incident["kind"] == "spike" and incident["start"] == "2026-01-01T00:45:00Z"
    assert incident["reference"]["cpu_percent"]["history_points"] == 360


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
