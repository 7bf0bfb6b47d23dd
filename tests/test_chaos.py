"""The chaos harness's short profile (bench/chaos.py, bench/README.md): under steady load, worker processes,
API processes and schedulers are killed, RabbitMQ is restarted, killed and its disk filled, Redis restarted,
PostgreSQL shut down, crashed and paused, several at once; afterwards every accepted job is finished once,
charged once, its callback delivered and signed, every payment credited once, and no request failed but those a
killed API process dropped. Private servers of its own: the machine's shared ones are never touched."""

from __future__ import annotations

import pytest

from bench import chaos
from bench.chaos_invariants import table

# It starts the whole platform on its own servers and breaks it in turn for minutes.
pytestmark = [pytest.mark.services, pytest.mark.slow]

SEED = 36  # the fault schedule and the clients' choices; `python -m bench.chaos --seed N` runs others


def test_nothing_accepted_is_lost_or_done_twice_while_everything_fails_in_turn():
    report = chaos.run(chaos.SHORT, SEED, log=lambda line: None)
    assert report.passed, "\n" + table(report.checks)
