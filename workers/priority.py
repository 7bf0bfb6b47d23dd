"""Making a worker's CPU niceness hold against the API on Linux, where the scheduler groups by session.

With autogroup (`/proc/sys/kernel/sched_autogroup_enabled`, on in Debian's and Ubuntu's kernels), the CPU is
shared first between sessions, equally, and a process's niceness only ranks it within its own session. Honcho,
systemd and the benchmarks start every process in a session of its own, so `nice -n 19 celery ...` alone left
the workers level with the API: jobs being analysed took CPU from requests being answered. The session's
group niceness (`/proc/self/autogroup`) is what ranks it against the others.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path


def set_session_niceness(niceness: int, pid: int | str = "self") -> bool:
    """Write the niceness of a process's session group; False where the kernel has no autogroup, or it is not
    permitted. With autogroup switched off the value is kept but has no effect."""
    try:
        Path(f"/proc/{pid}/autogroup").write_text(str(niceness))
    except OSError:
        return False
    return True


def lower_session_priority() -> int | None:
    """Give this process's session the niceness this process runs at; the niceness set, or None if left alone.

    Only a session that is the worker's own: led by the worker or by the shell that started it (a Procfile
    line runs under `sh -c`), and with no terminal, because an interactive shell would stay deprioritised
    after the worker exits. A niceness of 0, no autogroup support, or no permission leave everything as it is.
    """
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    session = os.getsid(0)
    if niceness <= 0 or session not in (os.getpid(), os.getppid()) or _has_terminal():
        return None
    return niceness if set_session_niceness(niceness) else None


def _has_terminal() -> bool:
    """Whether this process has a controlling terminal (the tty_nr field of /proc/self/stat)."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return int(fields[4]) != 0


def on_worker_setup(**kwargs) -> None:
    """Celery's `celeryd_after_setup` signal: in the worker's main process, once logging is set up and before
    its pool forks (the children inherit the session)."""
    niceness = lower_session_priority()
    if niceness is not None:
        logging.getLogger("smartcompute.worker").info("worker session niceness set", extra={"niceness": niceness})
