"""The faults the chaos harness injects, on a schedule drawn from a seed.

Faults are grouped in lanes, one per thing they break (the workers, the API, the schedulers, the broker,
Redis, PostgreSQL). Each lane runs its faults one after another at their drawn times (a fault that overruns
delays the next of its lane), and the lanes run at once, so at times several things are broken together: a
broker restart while PostgreSQL crashes and a worker is killed. Every fault is recorded with when it started,
what it hit and how long it took.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from collections.abc import Callable

from bench.chaos_processes import ProcessManager
from bench.chaos_services import PrivatePostgres, PrivateRabbitMQ, PrivateRedis

DOWN_SECONDS = 1.0  # between a server's stop and its start
PAUSE_SECONDS = 8.0  # a server stopped with SIGSTOP: longer than a client's connect timeout
DISK_FULL_SECONDS = 10.0


@dataclass(frozen=True)
class Services:
    postgres: PrivatePostgres
    redis: PrivateRedis
    rabbitmq: PrivateRabbitMQ
    processes: ProcessManager


@dataclass(frozen=True)
class FaultRecord:
    at: float  # seconds since the run started
    fault: str
    target: str
    seconds: float
    error: str | None = None


def _worker_child(services: Services, rng: random.Random) -> str:
    name = "worker-core" if rng.random() < 0.8 else "worker-payments"
    return f"{name} pool process {services.processes.kill_child(name, rng)}"


def _worker_main(services: Services, rng: random.Random) -> str:
    name = "worker-core" if rng.random() < 0.75 else "worker-payments"
    return f"{name} main process {services.processes.kill_main(name, rng)}"


def _api_process(services: Services, rng: random.Random) -> str:
    return f"gunicorn worker {services.processes.kill_child('web', rng)}"


def _api_main(services: Services, rng: random.Random) -> str:
    return f"gunicorn arbiter {services.processes.kill_main('web', rng)}"


def _scheduler(services: Services, rng: random.Random) -> str:
    name = rng.choice(["scheduler", "scheduler-payments"])
    return f"{name} {services.processes.kill_main(name, rng)}"


def _restart(stop: Callable[[], None], start: Callable[[], None]) -> None:
    stop()
    time.sleep(DOWN_SECONDS)
    start()


def _broker_restart(services: Services, _rng: random.Random) -> str:
    _restart(services.rabbitmq.stop, services.rabbitmq.start)
    return "RabbitMQ stopped, started"


def _broker_kill(services: Services, _rng: random.Random) -> str:
    _restart(services.rabbitmq.kill, services.rabbitmq.start)
    return "RabbitMQ killed (SIGKILL), started"


def _broker_partition(services: Services, _rng: random.Random) -> str:
    services.rabbitmq.pause(PAUSE_SECONDS)
    return f"RabbitMQ stopped with SIGSTOP for {PAUSE_SECONDS:.0f} s"


def _broker_disk_full(services: Services, _rng: random.Random) -> str:
    services.rabbitmq.disk_alarm(DISK_FULL_SECONDS)
    return f"RabbitMQ free-disk alarm for {DISK_FULL_SECONDS:.0f} s"


def _redis_restart(services: Services, _rng: random.Random) -> str:
    _restart(services.redis.stop, services.redis.start)
    return "Redis stopped, started"


def _postgres_fast(services: Services, _rng: random.Random) -> str:
    _restart(lambda: services.postgres.stop("fast"), services.postgres.start)
    return "pg_ctl stop -m fast, start"


def _postgres_crash(services: Services, _rng: random.Random) -> str:
    _restart(lambda: services.postgres.stop("immediate"), services.postgres.start)
    return "pg_ctl stop -m immediate (a crash: recovery at start), start"


def _postgres_partition(services: Services, _rng: random.Random) -> str:
    services.postgres.pause(PAUSE_SECONDS)
    return f"PostgreSQL stopped with SIGSTOP for {PAUSE_SECONDS:.0f} s"


FAULTS: dict[str, tuple[str, Callable[[Services, random.Random], str]]] = {
    "worker child SIGKILL": ("workers", _worker_child),
    "worker main SIGKILL": ("workers", _worker_main),
    "API process SIGKILL": ("api", _api_process),
    "API arbiter SIGKILL": ("api", _api_main),
    "scheduler SIGKILL": ("schedulers", _scheduler),
    "broker restart": ("broker", _broker_restart),
    "broker kill -9": ("broker", _broker_kill),
    "broker partition": ("broker", _broker_partition),
    "broker disk full": ("broker", _broker_disk_full),
    "Redis restart": ("redis", _redis_restart),
    "PostgreSQL fast shutdown": ("postgres", _postgres_fast),
    "PostgreSQL crash": ("postgres", _postgres_crash),
    "PostgreSQL partition": ("postgres", _postgres_partition),
}


class Faults:
    def __init__(self, counts: dict[str, int], seconds: float, seed: int, services: Services, started: float):
        self.services, self.records = services, []
        self._started = started
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        lanes: dict[str, list[tuple[float, str]]] = {}
        for fault, count in counts.items():
            lane = FAULTS[fault][0]
            lanes.setdefault(lane, []).extend((self._rng.uniform(2, seconds - 2), fault) for _ in range(count))
        self._threads = [
            threading.Thread(target=self._run_lane, args=(sorted(plan),), name=f"faults-{lane}", daemon=True)
            for lane, plan in lanes.items()
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def _run_lane(self, plan: list[tuple[float, str]]) -> None:
        rng = random.Random(self._rng.random())
        for at, fault in plan:
            time.sleep(max(0.0, at - (time.monotonic() - self._started)))
            began = time.monotonic()
            try:
                target, error = FAULTS[fault][1](self.services, rng), None
            except Exception as failure:  # recorded: a fault that could not be injected is part of the report
                target, error = "", f"{type(failure).__name__}: {failure}"
            with self._lock:
                self.records.append(
                    FaultRecord(
                        round(began - self._started, 1), fault, target, round(time.monotonic() - began, 1), error
                    )
                )
