"""A worker started at a niceness gives its session that niceness, so it yields the CPU to the API."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/autogroup").exists(),
        reason="this kernel has no autogroup (CONFIG_SCHED_AUTOGROUP), so nice already ranks processes across sessions",
    ),
]

REPORT = (
    "from pathlib import Path; from workers.priority import lower_session_priority; "
    "print(lower_session_priority(), Path('/proc/self/autogroup').read_text().split()[-1])"
)


def run_in_new_session(command: str) -> list[str]:
    result = subprocess.run(
        command,
        shell=True,
        cwd=REPO,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.split()


def test_a_worker_leading_its_own_session_gives_the_session_its_niceness():
    assert run_in_new_session(f'exec nice -n 19 {sys.executable} -c "{REPORT}"') == ["19", "19"]


def test_a_worker_started_by_a_procfile_shell_gives_that_session_its_niceness():
    # Honcho runs each Procfile line under `sh -c`, which leads the session and waits for the worker.
    assert run_in_new_session(f'nice -n 15 {sys.executable} -c "{REPORT}"; true') == ["15", "15"]


def test_a_worker_at_niceness_zero_changes_nothing():
    assert run_in_new_session(f'exec {sys.executable} -c "{REPORT}"') == ["None", "0"]


def test_a_session_the_worker_shares_with_other_processes_is_left_alone():
    nested = f'nice -n 19 {sys.executable} -c \\"{REPORT}\\"; true'
    assert run_in_new_session(f'sh -c "{nested}"; true') == ["None", "0"]
