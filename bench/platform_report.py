"""The job-platform benchmark's targets and its printed report (bench/platform_bench.py measures)."""

from __future__ import annotations

import os

TARGETS = {"ratio": 0.60, "worker_rss_mib": 150.0}
# Latency targets relative to the bare pipeline's p99 in the same rounds: (times the bare p99, plus ms).
P99_TARGETS = {"post": (1.5, 5.0), "get": (1.0, 4.0)}
KINDS = ("bare", "real")


def report(results: dict, opts, loop_seconds: tuple[float, float]) -> str:
    lines = [
        f"job platform benchmark: {opts.jobs} jobs, {opts.clients} clients, gunicorn {opts.web_workers}x"
        f"{opts.web_threads} threads, celery concurrency {opts.concurrency}, {os.cpu_count()} CPUs"
        + "".join(f", {name}={value}" for name, value in opts.extra_env.items()),
        f"machine speed: a fixed Python loop took {loop_seconds[0]:.2f} s before and {loop_seconds[1]:.2f} s "
        "after the run (lower is faster; see bench/README.md)",
        "",
    ]
    lines += _throughput_lines(results)
    lines += [
        "",
        f"latency, open loop ({opts.latency_seconds:g} s a round, at min({opts.rate:g}/s, half the real "
        "pipeline's jobs/s); bare is the reference: a tutorial's endpoints on this machine, in this run; nginx is "
        "the real pipeline through the shipped edge, over TLS):",
    ]
    lines += _latency_lines(results)
    lines += ["", "resident memory after the run (MiB):"]
    for broker, result in results.items():
        for kind in KINDS:
            for role, rss in result[kind]["rss_mib"].items():
                values = " ".join(f"{key.split(':')[0]} {value:.0f}" for key, value in rss.items())
                lines.append(f"  {broker:9} {kind:5} {role:7} {values}")
    return "\n".join(lines)


def _throughput_lines(results: dict) -> list[str]:
    lines = [
        f"{'broker':9} {'pipeline':8} {'jobs/s':>7} {'ok':>5} {'fail':>4}  "
        f"CPU ms/job: {'api':>5} {'worker':>6} {'pg':>5} {'broker':>6} {'loadgen':>7}  busy  other"
    ]
    for broker, result in results.items():
        for kind in KINDS:
            row = result[kind]
            cpu = row["cpu_ms_per_job"]
            lines.append(
                f"{broker:9} {kind:8} {row['jobs_per_second']:7.1f} {row['succeeded']:5} {row['failed']:4}  "
                f"{'':11} {cpu['api']:5.2f} {cpu['worker']:6.2f} {cpu['postgres']:5.2f} "
                f"{cpu['broker']:6.2f} {cpu['loadgen']:7.2f}  {row['machine_cpu_busy']:4.0%}  "
                f"{row['other_cpu_share']:4.0%}"
            )
        lines.append(
            f"{'':9} {'ratio':8} {result['ratio']:7.0%}  (target >= {TARGETS['ratio']:.0%}); turns in "
            f"order {' '.join(result['turn_order'])}: bare {result['bare']['turns_jobs_per_second']}, "
            f"real {result['real']['turns_jobs_per_second']} jobs/s"
        )
    return lines


def _latency_lines(results: dict) -> list[str]:
    lines = []
    for broker, result in results.items():
        lines.append(f"  {broker}: {result['latency_rate']:g} req/s")
        for name in ("post", "get"):
            rows = {
                "real": result["real"]["latency"][name],
                "bare": result["bare"]["latency"][name],
                "nginx": result["real"]["latency_through_nginx"][name],
            }
            times, plus = P99_TARGETS[name]
            target = times * (rows["bare"]["p99_ms"] or 0) + plus
            for kind, row in rows.items():
                if kind == "real":
                    met = "met" if row["p99_ms"] is not None and row["p99_ms"] <= target else "MISSED"
                    verdict = f"(target <= {target:.1f}: {met})"
                else:
                    verdict = f"{'':22}"
                lines.append(
                    f"  {broker:9} {name.upper():4} {kind:5} p50 {row['p50_ms']:6.2f}  "
                    f"p95 {row['p95_ms']:6.2f}  p99 {row['p99_ms']:6.2f} ms {verdict}  "
                    f"max {row['max_ms']:.1f}  errors {sum(row['errors'].values())}"
                )
    return lines
