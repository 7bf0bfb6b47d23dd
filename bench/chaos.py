"""Chaos and soak: the Procfile's processes under steady load while workers, API processes, schedulers, the
broker, Redis and PostgreSQL are killed, crashed, paused and restarted; then every job, charge, credit and
callback is counted.

    python -m bench.chaos [--profile short|full|overload] [--seed N] [--rate JOBS_PER_S] [--json out.json] [--keep]

It starts private PostgreSQL (initdb, a free port), Redis and RabbitMQ servers, migrates with the Procfile's
`release` step, and runs `web`, `worker-core`, `worker-payments` and two replicas each of `scheduler` and
`scheduler-payments` under a process manager that restarts whatever exits (bench/chaos_stack.py). Clients
submit jobs of every type and priority from many accounts, with callbacks to a receiver that sometimes fails or
hangs, and payment webhooks with duplicates and out of order (bench/chaos_load.py), while faults are injected on
a seeded schedule (bench/chaos_faults.py). Then the load stops, the faults end, the receiver heals, and once the
work has drained the invariants are checked from PostgreSQL and the broker and printed as a table
(bench/chaos_invariants.py). It exits 1 if any fails. The `overload` profile injects no faults: it offers twice
what the workers drain and shows admission control at work (bench/chaos_overload.py). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from bench import chaos_overload
from bench.chaos_faults import Faults, Services
from bench.chaos_invariants import Report, table
from bench.chaos_stack import BacklogMonitor, checked, drain, running_stack


@dataclass(frozen=True)
class Profile:
    name: str
    seconds: float  # of load and faults
    rate: float  # jobs offered per second
    clients: int
    accounts: int
    payments: int
    faults: dict[str, int]
    drain_seconds: float  # the longest the work may take to drain once the load stops
    env: dict[str, str] = field(default_factory=dict)


SHORT = Profile(
    "short",
    seconds=45,
    rate=3,
    clients=6,
    accounts=6,
    payments=8,
    drain_seconds=90,
    faults={
        "worker child SIGKILL": 6,
        "worker main SIGKILL": 2,
        "API process SIGKILL": 2,
        "API arbiter SIGKILL": 1,
        "scheduler SIGKILL": 2,
        "broker restart": 1,
        "broker kill -9": 1,
        "broker disk full": 1,
        "Redis restart": 1,
        "PostgreSQL fast shutdown": 1,
        "PostgreSQL crash": 1,
        "PostgreSQL partition": 1,
    },
    # Rounds every 5 s rather than 15, so what an outage left unsent goes out within the short drain.
    env={"REPUBLISH_INTERVAL": "5", "REPUBLISH_UNSENT_AFTER": "5", "REPUBLISH_MISSING_AFTER": "10"},
)
FULL = Profile(
    "full",
    seconds=600,
    rate=4,
    clients=12,
    accounts=20,
    payments=60,
    drain_seconds=300,
    faults={
        "worker child SIGKILL": 60,
        "worker main SIGKILL": 10,
        "API process SIGKILL": 8,
        "API arbiter SIGKILL": 3,
        "scheduler SIGKILL": 6,
        "broker restart": 3,
        "broker kill -9": 2,
        "broker partition": 2,
        "broker disk full": 2,
        "Redis restart": 3,
        "PostgreSQL fast shutdown": 1,
        "PostgreSQL crash": 1,
        "PostgreSQL partition": 2,
    },
)
PROFILES = {profile.name: profile for profile in (SHORT, FULL)}


def run(profile: Profile, seed: int, *, keep: bool = False, log=print) -> Report:
    log(f"chaos: profile {profile.name}, seed {seed}, {profile.rate} jobs/s for {profile.seconds:.0f} s")
    with running_stack(
        profile.env, seed, accounts_count=profile.accounts, payments_count=profile.payments, keep=keep, log=log
    ) as stack:
        log("chaos: every process is up; load and faults start")
        started = time.monotonic()
        load = stack.load(
            rate=profile.rate, clients=profile.clients, seed=seed, seconds=profile.seconds, started=started
        )
        faults = Faults(
            profile.faults,
            profile.seconds,
            seed,
            Services(stack.postgres, stack.redis, stack.rabbitmq, stack.processes),
            started,
        )
        with BacklogMonitor(stack.engine, started) as backlog:
            load.start()
            faults.start()
            time.sleep(profile.seconds)
            load.stop(timeout=120)
            faults.join()
            load_seconds = time.monotonic() - started
            stack.receiver.heal()
            log(f"chaos: load and faults over after {load_seconds:.0f} s; draining")
            drained_after = drain(stack.engine, profile.drain_seconds)
        outcome, checks = checked(stack, load.record, faults.records, backlog, load_seconds, drained_after)
    figures = {
        "load_seconds": round(load_seconds, 1),
        "accepted": len(outcome.load.accepted),
        "drained_after": drained_after,
        "faults": [asdict(record) for record in outcome.faults],
        "exits": [asdict(exit) for exit in outcome.exits],
        "backlog": outcome.backlog,
    }
    return Report(profile.name, seed, checks, figures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=sorted([*PROFILES, "overload"]), default="short")
    parser.add_argument("--seed", type=int, default=None, help="the fault schedule's and the clients' seed")
    parser.add_argument("--rate", type=float, default=None, help="jobs offered per second (default: the profile's)")
    parser.add_argument("--json", type=Path, default=None, help="write the checks and figures here")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs, data)")
    parser.add_argument("--without-shedding", action="store_true", help="overload: with LOAD_SHED_* at 0, to compare")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    if args.profile == "overload":
        report = chaos_overload.run(seed, shedding=not args.without_shedding, keep=args.keep)
    else:
        profile = PROFILES[args.profile]
        report = run(replace(profile, rate=args.rate) if args.rate else profile, seed, keep=args.keep)
    print(table(report.checks))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "profile": report.profile,
                    "seed": seed,
                    "checks": [asdict(check) for check in report.checks],
                    **report.figures,
                },
                indent=1,
                default=str,
            )
        )
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
