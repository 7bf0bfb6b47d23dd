"""Benchmark: threat_analysis of one day of 1-minute metrics plus 100,000 connection records.

Times the two costs separately: parse_telemetry (JSON-like dicts -> arrays) and analyze_threats.
The payload holds ordinary traffic plus a port scan, a beacon and a brute force, so every network
detector does real work.

    .venv/bin/python bench/threat_speed.py [--connections 100000] [--repeat 3] [--iso-timestamps]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, UTC
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartcompute.detection.telemetry import parse_telemetry  # noqa: E402
from smartcompute.detection.threat import analyze_threats  # noqa: E402

START = datetime(2026, 11, 23, tzinfo=UTC).timestamp()
DAY = 86400.0


def build_payload(connection_count: int, iso_timestamps: bool, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    timestamps = START + 60.0 * np.arange(1440)
    shape = np.sin(2 * np.pi * ((timestamps % DAY) / 3600 - 8) / 24)
    metrics = {
        "cpu_percent": np.clip(55 + 20 * shape + rng.normal(0, 3, 1440), 0, 100),
        "mem_percent": np.clip(60 + 5 * shape + rng.normal(0, 1, 1440), 0, 100),
        "disk_write_bytes": 2e6 * (1 + 0.3 * shape) * rng.lognormal(0, 0.15, 1440),
        "net_in": 5e6 * (1 + 0.4 * shape) * rng.lognormal(0, 0.15, 1440),
        "net_out": 2e6 * (1 + 0.4 * shape) * rng.lognormal(0, 0.15, 1440),
    }
    records = _connections(rng, connection_count)
    if iso_timestamps:
        for record in records:
            record["timestamp"] = datetime.fromtimestamp(record["timestamp"], tz=UTC).isoformat()
    return {
        "host": "bench-01",
        "timestamps": timestamps.tolist(),
        "metrics": {name: values.tolist() for name, values in metrics.items()},
        "connections": records,
    }


def _connections(rng: np.random.Generator, count: int) -> list[dict]:
    attack = 1000 + 1440 + 400  # scan + a day of 60 s beacons + brute force
    ordinary = max(0, count - attack)
    destinations = np.array([f"52.{i // 200}.{i % 200}.{i % 7 + 1}" for i in range(300)], dtype=object)
    columns = {
        "timestamp": np.concatenate(
            [
                START + rng.uniform(0, DAY, ordinary),
                START + 9 * 3600 + np.linspace(0, 120, 1000),
                START + 60.0 * np.arange(1440) + rng.uniform(-6, 6, 1440),
                START + 4 * 3600 + np.sort(rng.uniform(0, 2400, 400)),
            ]
        ),
        "src_ip": np.concatenate(
            [
                np.full(ordinary, "10.0.0.5", dtype=object),
                np.full(1000, "198.51.100.23"),
                np.full(1440, "10.0.0.5"),
                np.full(400, "45.155.205.10"),
            ]
        ).astype(object),
        "dst_ip": np.concatenate(
            [
                destinations[rng.zipf(1.6, ordinary) % 300],
                np.full(1000, "10.0.0.5"),
                np.full(1440, "185.220.101.45"),
                np.full(400, "10.0.0.5"),
            ]
        ).astype(object),
        "dst_port": np.concatenate(
            [rng.choice([443, 443, 443, 80, 53], ordinary), np.arange(1, 1001), np.full(1440, 443), np.full(400, 22)]
        ),
        "bytes_out": np.concatenate(
            [rng.lognormal(7.5, 1.0, ordinary), np.full(1000, 60.0), np.full(1440, 400.0), np.full(400, 2000.0)]
        ),
        "bytes_in": np.concatenate(
            [rng.lognormal(10, 1.0, ordinary), np.zeros(1000), np.full(1440, 220.0), np.full(400, 3000.0)]
        ),
    }
    order = rng.permutation(columns["timestamp"].size)  # the parser, not the client, sorts
    protocol = np.where(columns["dst_port"] == 53, "udp", "tcp")
    return [
        {
            "timestamp": float(columns["timestamp"][i]),
            "src_ip": columns["src_ip"][i],
            "dst_ip": columns["dst_ip"][i],
            "dst_port": int(columns["dst_port"][i]),
            "protocol": str(protocol[i]),
            "bytes_out": float(columns["bytes_out"][i]),
            "bytes_in": float(columns["bytes_in"][i]),
        }
        for i in order.tolist()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--iso-timestamps", action="store_true", help="connection timestamps as ISO-8601 text")
    args = parser.parse_args()
    payload = build_payload(args.connections, args.iso_timestamps)
    parse_times, analysis_times = [], []
    for _ in range(args.repeat):
        began = time.perf_counter()
        telemetry = parse_telemetry(payload, max_points=100_000)
        parsed = time.perf_counter()
        report = analyze_threats(telemetry)
        parse_times.append(parsed - began)
        analysis_times.append(time.perf_counter() - parsed)
    parse_s, analysis_s = min(parse_times), min(analysis_times)
    print(f"connections={len(payload['connections'])} points={len(payload['timestamps'])} (best of {args.repeat})")
    print(f"parse_seconds={parse_s:.3f} analysis_seconds={analysis_s:.3f} total_seconds={parse_s + analysis_s:.3f}")
    print("findings: " + ", ".join(sorted(f["category"] for f in report["findings"])))


if __name__ == "__main__":
    main()
