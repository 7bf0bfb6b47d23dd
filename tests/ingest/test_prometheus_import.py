"""`smartcompute import prometheus` against a private Prometheus (Debian's package) scraping two exporters the
test serves with prometheus_client, submitting to a real API whose worker runs the jobs."""

from __future__ import annotations

import math
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass

import bcrypt
import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from tests.ingest.conftest import SMARTCOMPUTE, client_env, finished_jobs, smartcompute
from tests.support import free_port, stop_process_group, wait_until

HOSTS = ("web-1", "web-2")
_JOB_LINE = re.compile(
    r"^(?P<host>\S+): (?P<metrics>\d+) metrics x (?P<samples>\d+) samples, (?P<first>\S+) to "
    r"(?P<last>\S+): job (?P<id>[0-9a-f-]{36})$"
)


@dataclass(frozen=True)
class PrivatePrometheus:
    url: str
    credentials: str  # user:password

    def env(self, api: str, api_key: str) -> dict[str, str]:
        return client_env(api, api_key, PROMETHEUS_BASIC_AUTH=self.credentials)


def _exporter(host_index: int, stop: threading.Event) -> tuple[int, object]:
    """A host's exporter: a CPU gauge with a rhythm, a ratio that is NaN every third second, a growing counter."""
    registry = CollectorRegistry()
    Gauge("cpu_busy_percent", "CPU busy", registry=registry).set_function(
        lambda: 30 + 10 * host_index + 5 * math.sin(time.time() / 5)
    )
    Gauge("flaky_ratio", "NaN when nothing was measured", registry=registry).set_function(
        lambda: float("nan") if int(time.time()) % 3 == 0 else 0.5
    )
    requests = Counter("requests", "requests served", registry=registry)

    def serve() -> None:
        while not stop.wait(0.1):
            requests.inc(10 * (host_index + 1))

    threading.Thread(target=serve, daemon=True).start()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    return port, server


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    if shutil.which("prometheus") is None:
        raise AssertionError("prometheus is not installed (.ci/run installs Debian's prometheus)")
    directory = tmp_path_factory.mktemp("prometheus")
    stop = threading.Event()
    exporters = [_exporter(index, stop) for index in range(len(HOSTS))]
    targets = "\n".join(
        f"      - targets: ['127.0.0.1:{port}']\n        labels: {{host: {host}}}"
        for host, (port, _) in zip(HOSTS, exporters)
    )
    (directory / "prometheus.yml").write_text(
        f"global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: exporters\n    static_configs:\n{targets}\n"
    )
    password = secrets.token_urlsafe(16)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (directory / "web.yml").write_text(f"basic_auth_users:\n  importer: '{hashed}'\n")
    port = free_port()
    with open(directory / "prometheus.log", "wb") as log:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={directory / 'prometheus.yml'}",
                f"--web.config.file={directory / 'web.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    server = PrivatePrometheus(f"http://127.0.0.1:{port}", f"importer:{password}")
    try:
        wait_until(lambda: _samples(server) >= 8, 60, "Prometheus to hold eight scrapes of each exporter", interval=0.5)
        yield server
    finally:
        stop_process_group(process, grace=10)
        stop.set()
        for _, exporter in exporters:
            exporter.shutdown()


def _samples(server: PrivatePrometheus) -> int:
    try:
        answer = httpx.get(
            f"{server.url}/api/v1/query",
            params={"query": "min(count_over_time(cpu_busy_percent[1m]))"},
            auth=tuple(server.credentials.split(":", 1)),
            timeout=2,
        ).json()
        return int(float(answer["data"]["result"][0]["value"][1])) if answer["data"]["result"] else 0
    except (httpx.HTTPError, KeyError, ValueError):
        return 0


def import_prometheus(server: PrivatePrometheus, api: str, api_key: str, *args: str, env=None):
    return smartcompute(
        ["import", "prometheus", "--url", server.url, "--host-label", "host", "--step", "1s", *args],
        env or server.env(api, api_key),
    )


def job_lines(output: str) -> list[dict]:
    return [match.groupdict() for line in output.splitlines() if (match := _JOB_LINE.match(line))]


def test_a_range_becomes_a_job_per_host_whose_metrics_are_named_from_their_labels(prometheus, ingest_api, account):
    done = import_prometheus(
        prometheus,
        ingest_api,
        account.api_key,
        "--query",
        "cpu_busy_percent",
        "--query",
        "requests_per_second=rate(requests_total[3s])",
        "--start",
        "now-6s",
    )
    assert done.returncode == 0, done.stderr
    lines = job_lines(done.stdout)
    assert sorted(line["host"] for line in lines) == sorted(HOSTS) and {line["metrics"] for line in lines} == {"2"}
    assert done.stdout.splitlines()[-1].startswith("2 jobs for 2 hosts")
    jobs = finished_jobs(ingest_api, account.api_key, [line["id"] for line in lines])
    assert {job["status"] for job in jobs} == {"succeeded"} and {job["host"] for job in jobs} == set(HOSTS)
    names = set(jobs[0]["result"]["scores"])
    assert {name.split("{")[0] for name in names} == {"cpu_busy_percent", "requests_per_second"}
    assert all('job="exporters"' in name and "host=" not in name for name in names)


def test_points_that_are_not_numbers_are_skipped(prometheus, ingest_api, account):
    """A series with NaN points goes in a job of its own, without them, beside the host's complete series."""
    done = import_prometheus(
        prometheus,
        ingest_api,
        account.api_key,
        "--query",
        "flaky_ratio",
        "--query",
        "cpu_busy_percent",
        "--start",
        "now-9s",
        "--end",
        "now",
    )
    assert done.returncode == 0, done.stderr
    lines = job_lines(done.stdout)
    for host in HOSTS:
        complete, flaky = sorted(
            (line for line in lines if line["host"] == host), key=lambda line: -int(line["samples"])
        )
        assert 0 < int(flaky["samples"]) < int(complete["samples"]) * 0.9
    jobs = finished_jobs(ingest_api, account.api_key, [line["id"] for line in lines])
    assert {job["status"] for job in jobs} == {"succeeded"}


def test_a_long_range_is_split_into_jobs_under_the_points_limit(prometheus, ingest_api, account):
    done = import_prometheus(
        prometheus, ingest_api, account.api_key, "--query", "cpu_busy_percent", "--start", "now-8s", "--max-points", "3"
    )
    lines = [line for line in job_lines(done.stdout) if line["host"] == "web-1"]
    assert len(lines) >= 3 and {line["samples"] for line in lines[:-1]} == {"3"}
    for earlier, later in zip(lines, lines[1:]):  # consecutive and not overlapping
        assert _epoch(later["first"]) - _epoch(earlier["last"]) == 1.0


def test_importing_the_same_range_again_submits_the_same_jobs(prometheus, ingest_api, account):
    end = time.time() - 2
    first, again = (
        import_prometheus(
            prometheus,
            ingest_api,
            account.api_key,
            "--query",
            "cpu_busy_percent",
            "--start",
            str(end - 5),
            "--end",
            str(end),
        )
        for _ in range(2)
    )
    assert [line["id"] for line in job_lines(again.stdout)] == [line["id"] for line in job_lines(first.stdout)]


def test_follow_submits_each_new_span_once(prometheus, ingest_api, account, tmp_path):
    command = [
        SMARTCOMPUTE,
        "import",
        "prometheus",
        "--url",
        prometheus.url,
        "--host-label",
        "host",
        "--step",
        "1s",
        "--query",
        "cpu_busy_percent",
        "--follow",
        "--every",
        "2s",
        "--start",
        "now-4s",
    ]
    with open(tmp_path / "follow.out", "wb") as out:
        follower = subprocess.Popen(
            command,
            env=prometheus.env(ingest_api, account.api_key),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: len(job_lines((tmp_path / "follow.out").read_text())) >= 3 * len(HOSTS),
            30,
            "three spans per host",
            interval=0.2,
        )
    finally:
        follower.send_signal(signal.SIGTERM)
        stop_process_group(follower, grace=5)
    lines = [line for line in job_lines((tmp_path / "follow.out").read_text()) if line["host"] == "web-1"]
    for earlier, later in zip(lines, lines[1:]):
        assert _epoch(later["first"]) == _epoch(earlier["last"]) + 1.0
    assert len({line["id"] for line in lines}) == len(lines)


@pytest.mark.parametrize(
    ("query", "credentials", "message"),
    [
        ("rate(requests_total[", "right", "Error: Prometheus: bad_data: "),
        ("cpu_busy_percent", "wrong", "Error: Prometheus refused the credentials (401): set PROMETHEUS_BASIC_AUTH"),
    ],
)
def test_what_prometheus_refuses_is_one_line(prometheus, ingest_api, account, query, credentials, message):
    env = prometheus.env(ingest_api, account.api_key)
    if credentials == "wrong":
        env["PROMETHEUS_BASIC_AUTH"] = "importer:not-the-password"
    failed = import_prometheus(prometheus, ingest_api, account.api_key, "--query", query, "--start", "now-5s", env=env)
    assert failed.returncode == 1 and failed.stderr.startswith(message) and failed.stderr.count("\n") == 1


def _epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
