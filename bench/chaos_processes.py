"""The Procfile's processes under a process manager that restarts whatever exits, as a PaaS or Kubernetes does.

Each entry runs as the Procfile writes it (`sh -c`, in a session of its own). When an entry's main process
exits or is killed, the rest of its process group is killed too (a container's processes end with its first
one) and the entry is started again after `RESTART_DELAY` seconds. Every exit is recorded with its time and
status, and the resident memory of every process is sampled for the memory-growth check.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import descendants, rss_mib
from tests.support import REPO

RESTART_DELAY = 1.0


@dataclass
class Exit:
    name: str
    pid: int
    status: int
    at: float  # seconds since the manager started


@dataclass
class _Entry:
    name: str  # `worker-core.1`: the Procfile entry and the replica's number
    command: str
    log_path: Path
    process: subprocess.Popen | None = None
    restart_at: float | None = None
    starts: int = 0


@dataclass
class MemorySample:
    at: float
    entry: str
    pid: int
    role: str  # `main` or `child`
    mib: float


@dataclass
class ProcessManager:
    commands: dict[str, str]  # entry name -> command
    replicas: dict[str, int]
    env: dict[str, str]
    log_dir: Path
    exits: list[Exit] = field(default_factory=list)
    memory: list[MemorySample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._entries = [
            _Entry(f"{name}.{index}", self.commands[name], self.log_dir / f"{name}.{index}.log")
            for name, count in self.replicas.items()
            for index in range(1, count + 1)
        ]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, name="process-manager", daemon=True)

    def now(self) -> float:
        return time.monotonic() - self._started

    def start(self) -> None:
        for entry in self._entries:
            self._spawn(entry)
        self._watcher.start()

    def _spawn(self, entry: _Entry) -> None:
        with open(entry.log_path, "ab") as log:
            entry.process = subprocess.Popen(
                ["sh", "-c", f"exec {entry.command}"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        entry.starts += 1
        entry.restart_at = None

    def _watch(self) -> None:
        last_sample = 0.0
        while not self._stopping.wait(0.2):
            with self._lock:
                for entry in self._entries:
                    self._look_after(entry)
            if time.monotonic() - last_sample >= 2.0:
                last_sample = time.monotonic()
                self._sample_memory()

    def _look_after(self, entry: _Entry) -> None:
        if entry.process is not None and entry.process.poll() is not None:
            self.exits.append(Exit(entry.name, entry.process.pid, entry.process.returncode, self.now()))
            _kill_group(entry.process.pid)
            entry.process = None
            entry.restart_at = time.monotonic() + RESTART_DELAY
        if entry.process is None and entry.restart_at is not None and time.monotonic() >= entry.restart_at:
            self._spawn(entry)

    def _sample_memory(self) -> None:
        at = self.now()
        for entry in self._entries:
            process = entry.process
            if process is None:
                continue
            for pid, role in [(process.pid, "main"), *((child, "child") for child in descendants(process.pid))]:
                mib = rss_mib(pid)
                if mib is not None:
                    self.memory.append(MemorySample(at, entry.name, pid, role, mib))

    def main_pids(self, name: str) -> list[int]:
        """The running main processes of a Procfile entry's replicas."""
        with self._lock:
            return [
                entry.process.pid
                for entry in self._entries
                if entry.name.rpartition(".")[0] == name and entry.process is not None and entry.process.poll() is None
            ]

    def children(self, name: str) -> list[int]:
        return [child for pid in self.main_pids(name) for child in descendants(pid)]

    def kill_main(self, name: str, rng: random.Random) -> int | None:
        """SIGKILL the main process of one replica of `name`; the manager then ends its group and restarts it."""
        return _kill_one(self.main_pids(name), rng)

    def kill_child(self, name: str, rng: random.Random) -> int | None:
        return _kill_one(self.children(name), rng)

    def log(self, name: str) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.log_dir.glob(f"{name}.*.log")))

    def stop(self) -> None:
        """SIGTERM every entry (a warm shutdown), SIGKILL whatever is left after 20 s."""
        self._stopping.set()
        self._watcher.join(5)
        running = [entry.process for entry in self._entries if entry.process is not None]
        for process in running:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            _kill_group(process.pid)


def _kill_one(pids: list[int], rng: random.Random) -> int | None:
    if not pids:
        return None
    pid = rng.choice(pids)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return None
    return pid


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass


def _kill_group(pgid: int) -> None:
    _signal_group(pgid, signal.SIGKILL)
