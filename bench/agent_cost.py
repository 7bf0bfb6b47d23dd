"""What `smartcompute agent` costs the host it watches: CPU per sample, and CPU % at its sampling interval.

Two measurements:
- the sampler alone, in this process, back to back: CPU per sample with and without the threat watch (the
  per-sample scan of connections and processes), and so how many samples a second one core could take;
- the agent as it runs, a `smartcompute agent` process sending to a real API (gunicorn on a scratch database;
  its jobs stay queued, no worker is started), sampling every `--interval` seconds with an anomaly batch every
  30 samples and a threat batch every 60: its CPU over `--seconds`, and what that means at the default
  10-second interval.

    .venv/bin/python -m bench.agent_cost [--seconds 60] [--interval 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bench import platform_bench, procs
from smartcompute.ingest.sampler import HostSampler
from smartcompute.ingest.threat_watch import ThreatWatch
from tests.support import free_port

DEFAULT_INTERVAL = 10.0


def sampler_cost(samples: int) -> dict[str, float]:
    """CPU milliseconds per sample, in process, with and without the threat watch."""
    figures = {}
    for label, watch in (("metrics", None), ("metrics_and_threat_watch", ThreatWatch())):
        sampler = HostSampler(watch)
        sampler.sample(time.time())  # the first sample primes psutil's per-process CPU readings
        started = time.process_time()
        for _ in range(samples):
            sampler.sample(time.time())
            if watch is not None:
                watch.take()
        per_sample = (time.process_time() - started) / samples
        figures[f"{label}_ms_per_sample"] = round(per_sample * 1000, 2)
        figures[f"{label}_samples_per_second_one_core"] = round(1 / per_sample, 1)
    return figures


def agent_cost(seconds: float, interval: float) -> dict[str, float]:
    with platform_bench.bench_environment({}) as bench, tempfile.TemporaryDirectory(prefix="agent-bench-") as spool:
        key, _ = platform_bench.new_api_key(bench.engine)
        port = free_port()
        api = procs.start_gunicorn(
            "agent-bench-api", "web:create_app()", bench.env, bench.log_dir, port=port, workers=1, threads=2
        )
        log_path = Path(spool) / "agent.log"
        env = {
            "PATH": os.environ["PATH"],
            "SMARTCOMPUTE_URL": f"http://127.0.0.1:{port}",
            "SMARTCOMPUTE_API_KEY": key,
            "AGENT_INTERVAL_SECONDS": str(interval),
            "AGENT_BATCH_SECONDS": str(30 * interval),
            "AGENT_THREAT_SECONDS": str(60 * interval),
            "AGENT_SPOOL_DIR": spool,
        }
        try:
            with open(log_path, "wb") as log:
                agent = subprocess.Popen(
                    [str(procs.BIN / "smartcompute"), "agent"], env=env, stdout=log, stderr=log, start_new_session=True
                )
            time.sleep(5)  # start-up (imports, the first psutil scans) is not the steady cost
            before, started = procs.cpu_seconds([agent.pid]), time.monotonic()
            time.sleep(seconds)
            used, elapsed = procs.cpu_seconds([agent.pid]) - before, time.monotonic() - started
            agent.terminate()
            agent.wait(30)
        finally:
            api.stop()
        lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    samples = elapsed / interval
    per_sample = used / samples
    return {
        "interval_seconds": interval,
        "seconds": round(elapsed, 1),
        "cpu_seconds": round(used, 2),
        "cpu_percent": round(100 * used / elapsed, 2),
        "ms_per_sample": round(1000 * per_sample, 2),
        "cpu_percent_at_10s_interval": round(100 * per_sample / DEFAULT_INTERVAL, 3),
        "batches_sent": sum(line["message"] == "batch sent" for line in lines),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--samples", type=int, default=100, help="in-process samples per variant")
    options = parser.parse_args()
    print(json.dumps({"python_loop_seconds": procs.python_loop_seconds(), "cores": os.cpu_count()}))
    print(json.dumps({"sampler": sampler_cost(options.samples)}))
    print(json.dumps({"agent": agent_cost(options.seconds, options.interval)}))
    print(json.dumps({"python_loop_seconds_after": procs.python_loop_seconds()}))


if __name__ == "__main__":
    main()
