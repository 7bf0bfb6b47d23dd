"""The agent's spool and its waits: bounded, ordered, durable across restarts, and patient as the API asks."""

from __future__ import annotations

from email.utils import format_datetime
from datetime import datetime, timedelta, UTC

from smartcompute.ingest.api_client import parse_retry_after
from smartcompute.ingest.backoff import Backoff
from smartcompute.ingest.spool import Spool

BATCH = {"timestamps": [1.0, 2.0], "metrics": {"cpu_percent": [10.5, 11.25]}, "host": "h"}


def test_batches_come_out_oldest_first_and_survive_a_restart(tmp_path):
    spool = Spool(tmp_path, 10**6)
    for key in ("a", "b", "c"):
        spool.add(key, "anomaly_detection", BATCH)
    spool.remove(spool.oldest().seq)
    spool.close()
    reopened = Spool(tmp_path, 10**6)
    assert reopened.oldest().idempotency_key == "b" and reopened.oldest().data == BATCH
    assert reopened.state().batches == 2


def test_a_batch_is_kept_once_per_key(tmp_path):
    spool = Spool(tmp_path, 10**6)
    spool.add("same", "anomaly_detection", BATCH)
    spool.add("same", "anomaly_detection", BATCH)
    assert spool.state().batches == 1


def test_a_full_spool_drops_the_oldest_batches_and_counts_them(tmp_path):
    one_batch = Spool(tmp_path / "probe", 10**6)
    one_batch.add("probe", "anomaly_detection", BATCH)
    size = one_batch.state().bytes
    spool = Spool(tmp_path / "full", 3 * size)
    dropped = [spool.add(f"k{index}", "anomaly_detection", BATCH) for index in range(5)]
    assert dropped == [0, 0, 0, 1, 1]
    assert spool.oldest().idempotency_key == "k2"
    assert spool.state().batches == 3 and spool.state().dropped_when_full == 2


def test_a_batch_refused_by_the_api_is_counted(tmp_path):
    spool = Spool(tmp_path, 10**6)
    spool.add("bad", "anomaly_detection", BATCH)
    spool.remove(spool.oldest().seq, refused=True)
    assert spool.state().batches == 0 and spool.state().refused_by_the_api == 1


def test_backoff_grows_with_each_failure_and_is_never_shorter_than_retry_after():
    highest = Backoff(first=1.0, ceiling=60.0, rng=lambda: 1.0)
    assert [highest.next_delay() for _ in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert Backoff(rng=lambda: 0.0).next_delay(retry_after=5) == 5
    highest.reset()
    assert highest.next_delay() == 1


def test_retry_after_is_read_as_seconds_or_as_a_date():
    assert parse_retry_after("5") == 5.0
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now=now.timestamp()) == 90.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
