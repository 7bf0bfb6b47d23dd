"""What the chaos harness checks once the run has drained, straight from PostgreSQL and the broker.

Each check is one line of the table `python -m bench.chaos` prints: PASS, FAIL, or INFO for what is measured
rather than judged in this run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bench.chaos_faults import FaultRecord
from bench.chaos_load import RETRY_FOR_SECONDS, LoadRecord, PaymentPlan
from bench.chaos_processes import Exit, MemorySample
from bench.chaos_receiver import Delivery

FINISHED = ("succeeded", "failed", "canceled")
# A connection reset or refused is expected only while an API process the harness killed goes away or comes back.
RESET_WINDOW_SECONDS, REFUSED_WINDOW_SECONDS = 3.0, 20.0
MEMORY_WARMUP_SECONDS, MEMORY_MIN_LIFE_SECONDS, MEMORY_SLOPE_LIMIT = 60.0, 180.0, 2.0  # MiB per minute


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # PASS, FAIL or INFO
    detail: str


@dataclass
class Run:
    """Everything a run observed, for the checks."""

    load: LoadRecord
    payments: list[PaymentPlan]
    deliveries: list[Delivery]
    faults: list[FaultRecord]
    exits: list[Exit]
    memory: list[MemorySample]
    backlog: list[tuple[float, int, int, float]]  # (at, queued, running, oldest queued age)
    queue_depths: dict[str, tuple[int, int]]
    load_seconds: float
    drained_after: float | None
    round_age: float | None
    republish_interval: float
    start_failures: Counter  # process entries' exits at start with "Could not start worker processes"
    api_kills: list[float] = field(default_factory=list)  # run times of API process kills (either kind)


def check_all(connection: Connection, run: Run) -> list[Check]:
    return [
        _accepted_jobs(connection, run),
        _finished(connection),
        _completed_once(connection),
        _charged_once(connection),
        _no_hold_left(connection),
        _ledger_sums(connection),
        _payments_credited_once(connection, run),
        _callbacks(connection, run),
        _client_errors(run),
        _broker_drained(run),
        _rounds(run),
        _memory(run),
        _backlog(run),
        _faults(run),
        _restarts(run),
    ]


def _rows(connection: Connection, sql: str) -> list:
    return connection.execute(text(sql)).all()


def _accepted_jobs(connection: Connection, run: Run) -> Check:
    stored = {str(row.id) for row in _rows(connection, "SELECT id FROM jobs")}
    accepted = {each.job_id for each in run.load.accepted}
    missing = accepted - stored
    replays = sum(1 for each in run.load.exchanges if each.kind == "replay" and each.status == 202)
    unseen = len(stored - accepted)
    detail = (
        f"{len(accepted)} answered 202, {len(missing)} of them not stored; {replays} sent again on purpose, "
        f"{len(run.load.replays_answering_another_job)} answered with another job; {unseen} stored whose 202 "
        f"the client never read (no Idempotency-Key, connection lost); {run.load.not_repeated} requests without "
        f"a key not sent again after an error; {run.load.given_up} still failing after retries for "
        f"{RETRY_FOR_SECONDS} s"
    )
    ok = not missing and not run.load.replays_answering_another_job and not run.load.given_up
    return Check("every 202 is one job", "PASS" if ok else "FAIL", detail)


def _finished(connection: Connection) -> Check:
    counts = Counter(dict(_rows(connection, "SELECT status, count(*) FROM jobs GROUP BY status")))
    live = _rows(
        connection,
        "SELECT id, status, attempts, published_at FROM jobs "
        "WHERE status IN ('queued', 'running') ORDER BY created_at LIMIT 5",
    )
    detail = ", ".join(f"{counts[status]} {status}" for status in (*FINISHED, "queued", "running") if counts[status])
    if live:
        detail += "; not finished: " + "; ".join(
            f"{row.id} {row.status} (attempts {row.attempts}, sent {row.published_at})" for row in live
        )
    return Check("every job is finished", "FAIL" if live else "PASS", detail)


def _completed_once(connection: Connection) -> Check:
    counts = Counter(dict(_rows(connection, "SELECT completions, count(*) FROM jobs GROUP BY completions")))
    twice = sum(count for completions, count in counts.items() if completions > 1)
    detail = ", ".join(f"{count} jobs run to the end {completions}x" for completions, count in sorted(counts.items()))
    return Check("no job ran to completion twice", "FAIL" if twice else "PASS", detail)


def _charged_once(connection: Connection) -> Check:
    rows = _rows(
        connection,
        """
        SELECT j.status, h.status AS hold, h.amount, coalesce(c.charges, 0) AS charges,
               coalesce(c.charged, 0) AS charged
        FROM jobs j LEFT JOIN credit_holds h ON h.job_id = j.id
        LEFT JOIN (SELECT job_id, count(*) AS charges, -sum(amount) AS charged FROM credit_ledger
                   WHERE reason = 'job' GROUP BY job_id) c ON c.job_id = j.id
        WHERE j.status IN ('succeeded', 'failed', 'canceled')""",
    )
    wrong = [
        row
        for row in rows
        if (
            (row.status == "succeeded" and (row.hold != "charged" or row.charges != 1 or row.charged != row.amount))
            or (row.status != "succeeded" and (row.hold != "released" or row.charges != 0))
        )
    ]
    charged = sum(1 for row in rows if row.status == "succeeded")
    detail = f"{charged} succeeded jobs charged once, {len(rows) - charged} failed or canceled released"
    if wrong:
        detail = f"{len(wrong)} wrong, such as {wrong[:3]}; " + detail
    return Check("each succeeded job charged once, the others released", "FAIL" if wrong else "PASS", detail)


def _no_hold_left(connection: Connection) -> Check:
    held = connection.execute(text("SELECT count(*) FROM credit_holds WHERE status = 'held'")).scalar()
    reserved = connection.execute(text("SELECT coalesce(sum(held), 0) FROM credit_balances")).scalar()
    ok = held == 0 and reserved == 0
    return Check("no hold left behind", "PASS" if ok else "FAIL", f"{held} holds held, {reserved} credits reserved")


def _ledger_sums(connection: Connection) -> Check:
    rows = _rows(
        connection,
        """
        SELECT b.account_id, b.balance, coalesce(sum(l.amount), 0) AS ledger FROM credit_balances b
        LEFT JOIN credit_ledger l ON l.account_id = b.account_id GROUP BY b.account_id, b.balance""",
    )
    wrong = [row for row in rows if row.balance != row.ledger]
    return Check(
        "the ledger sums to every balance",
        "FAIL" if wrong else "PASS",
        f"{len(rows)} accounts, {len(wrong)} whose balance is not its ledger's sum",
    )


def _payments_credited_once(connection: Connection, run: Run) -> Check:
    rows = {
        str(row.id): row
        for row in _rows(
            connection,
            """
        SELECT p.id, p.status, p.credits, count(l.id) AS credits_rows, coalesce(sum(l.amount), 0) AS credited
        FROM payments p LEFT JOIN credit_ledger l ON l.payment_id = p.id AND l.reason = 'payment'
        GROUP BY p.id, p.status, p.credits""",
        )
    }
    wrong = []
    for plan in run.payments:
        row = rows[plan.payment_id]
        credited_once = row.credits_rows == 1 and row.credited == row.credits
        if row.status != plan.outcome or credited_once != (plan.outcome == "confirmed") or row.credits_rows > 1:
            wrong.append(f"{plan.payment_id}: {row.status}, {row.credits_rows} credits (expected {plan.outcome})")
    events = Counter(dict(_rows(connection, "SELECT status, count(*) FROM webhook_events GROUP BY status")))
    unprocessed = events["received"] + events["dead"] + events["failed"]
    confirmed = sum(
        rows[plan.payment_id].status == "confirmed" and rows[plan.payment_id].credits_rows == 1 for plan in run.payments
    )
    failed = sum(
        rows[plan.payment_id].status == "failed" and not rows[plan.payment_id].credits_rows for plan in run.payments
    )
    detail = (
        f"{confirmed} confirmed and credited once, {failed} failed and not credited; "
        f"{sum(events.values())} distinct events stored, {unprocessed} not processed"
    )
    if wrong:
        detail = "; ".join(wrong[:3]) + "; " + detail
    return Check("each confirmed payment credited once", "FAIL" if wrong or unprocessed else "PASS", detail)


def _callbacks(connection: Connection, run: Run) -> Check:
    rows = _rows(
        connection,
        """
        SELECT c.job_id, j.account_id, c.delivered_at, c.given_up_at, c.next_attempt_at, c.next_attempt_at > now()
               AS retry_due_later FROM job_callbacks c JOIN jobs j ON j.id = c.job_id
        WHERE j.status IN ('succeeded', 'failed', 'canceled')""",
    )
    secret_of = _account_secrets(connection, run)
    signed_ok: set[str] = set()
    unsigned = 0
    for delivery in run.deliveries:
        row_secret = secret_of.get(delivery.job_id)
        if row_secret is None or not delivery.signed_by(row_secret):
            unsigned += 1
        elif delivery.answered == "ok":
            signed_ok.add(delivery.job_id)
    waiting = [
        row
        for row in rows
        if str(row.job_id) not in signed_ok
        and row.delivered_at is None
        and row.given_up_at is None
        and row.retry_due_later
    ]
    lost = [row for row in rows if str(row.job_id) not in signed_ok and row not in waiting]
    detail = (
        f"{len(rows)} finished jobs with a callback: {len(rows) - len(waiting) - len(lost)} delivered, "
        f"{len(waiting)} waiting for a retry still due, {len(lost)} neither; {len(run.deliveries)} deliveries "
        f"received, {unsigned} without a valid signature"
    )
    if waiting:
        detail += f" (next retry at {max(row.next_attempt_at for row in waiting):%H:%M:%S})"
    return Check("each callback delivered at least once, signed", "FAIL" if lost or unsigned else "PASS", detail)


def _account_secrets(connection: Connection, run: Run) -> dict[str, str]:
    """Each job's account's callback secret, by job id."""
    secrets = {}
    by_account = {
        str(row.account_id): row.callback_secret
        for row in _rows(
            connection, "SELECT id AS account_id, callback_secret FROM accounts WHERE callback_secret IS NOT NULL"
        )
    }
    for row in _rows(connection, "SELECT c.job_id, j.account_id FROM job_callbacks c JOIN jobs j ON j.id = c.job_id"):
        secrets[str(row.job_id)] = by_account.get(str(row.account_id))
    return secrets


def _client_errors(run: Run) -> Check:
    counts: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    for exchange in run.load.exchanges:
        label = str(exchange.status) if exchange.status is not None else exchange.error
        if exchange.status == 503:
            label += " with Retry-After" if exchange.retry_after else " without Retry-After"
        counts[label] += 1
        if _unexpected(exchange, run.api_kills):
            unexpected[label] += 1
    detail = ", ".join(f"{label}: {count}" for label, count in sorted(counts.items()))
    if unexpected:
        detail = "unexpected " + ", ".join(f"{label}: {count}" for label, count in unexpected.items()) + "; " + detail
    return Check(
        "requests answered (no 500, no reset but by a killed API process)", "FAIL" if unexpected else "PASS", detail
    )


def _unexpected(exchange, api_kills: list[float]) -> bool:
    if exchange.status is not None:
        return exchange.status >= 500 and not (exchange.status == 503 and exchange.retry_after)
    window = REFUSED_WINDOW_SECONDS if exchange.error == "refused" else RESET_WINDOW_SECONDS
    return exchange.error == "timeout" or not any(0 <= exchange.at - kill <= window for kill in api_kills)


def _broker_drained(run: Run) -> Check:
    left = {queue: depth for queue, depth in run.queue_depths.items() if queue in ("core-analysis", "payment-webhook")}
    busy = {queue: depth for queue, depth in left.items() if any(depth)}
    detail = ", ".join(f"{queue}: {ready} ready, {unacked} unacknowledged" for queue, (ready, unacked) in left.items())
    return Check(
        "the broker's queues are empty after the drain",
        "FAIL" if busy or not left else "PASS",
        detail or "no queue found",
    )


def _rounds(run: Run) -> Check:
    limit = 4 * run.republish_interval
    ok = run.round_age is not None and run.round_age <= limit
    age = "never" if run.round_age is None else f"{run.round_age:.0f} s ago"
    return Check(
        "the re-publisher runs", "PASS" if ok else "FAIL", f"last round finished {age} (alert past {limit:.0f} s)"
    )


def _memory(run: Run) -> Check:
    """Per Procfile entry and kind of process (main or pool child): the largest RSS, and the steepest RSS slope
    of any one process over its life once warmed up, for those that lived long enough to tell."""
    lives: dict[tuple[str, int], list[MemorySample]] = {}
    for sample in run.memory:
        lives.setdefault((f"{sample.entry.rpartition('.')[0]} {sample.role}", sample.pid), []).append(sample)
    largest: dict[str, float] = {}
    steepest: dict[str, float] = {}
    for (kind, _pid), samples in lives.items():
        largest[kind] = max(largest.get(kind, 0.0), max(sample.mib for sample in samples))
        slope = _settled_slope(samples)
        if slope is not None:
            steepest[kind] = max(steepest.get(kind, slope), slope)
    detail = "; ".join(
        f"{kind} {largest[kind]:.0f} MiB" + (f", {steepest[kind]:+.2f} MiB/min" if kind in steepest else "")
        for kind in sorted(largest)
    )
    if not steepest:
        lived = MEMORY_WARMUP_SECONDS + MEMORY_MIN_LIFE_SECONDS
        return Check(
            "memory stays flat", "INFO", f"no process lived {lived:.0f} s, too short to judge; largest RSS: {detail}"
        )
    steep = [kind for kind, slope in steepest.items() if slope > MEMORY_SLOPE_LIMIT]
    return Check(
        "memory stays flat",
        "FAIL" if steep else "PASS",
        f"largest RSS and steepest slope after {MEMORY_WARMUP_SECONDS:.0f} s (limit {MEMORY_SLOPE_LIMIT} "
        f"MiB/min): {detail}",
    )


def _settled_slope(samples: list[MemorySample]) -> float | None:
    settled = [sample for sample in samples if sample.at - samples[0].at >= MEMORY_WARMUP_SECONDS]
    if len(settled) < 3 or settled[-1].at - settled[0].at < MEMORY_MIN_LIFE_SECONDS:
        return None
    return _slope(settled)


def _slope(samples: list[MemorySample]) -> float:
    """Least-squares slope of RSS over time, in MiB per minute."""
    n = len(samples)
    mean_t = sum(s.at for s in samples) / n
    mean_m = sum(s.mib for s in samples) / n
    spread = sum((s.at - mean_t) ** 2 for s in samples)
    return 60 * sum((s.at - mean_t) * (s.mib - mean_m) for s in samples) / spread if spread else 0.0


def _backlog(run: Run) -> Check:
    if not run.backlog:
        return Check("backlog", "INFO", "not sampled")
    peak = max(run.backlog, key=lambda sample: sample[1])
    oldest = max(sample[3] for sample in run.backlog)
    drained = (
        f"drained {run.drained_after:.0f} s after the load stopped" if run.drained_after is not None else "not drained"
    )
    return Check(
        "backlog",
        "INFO",
        f"peak {peak[1]} queued at {peak[0]:.0f} s, oldest queued job waited at most {oldest:.0f} s; {drained}",
    )


def _faults(run: Run) -> Check:
    done = Counter(record.fault for record in run.faults if record.error is None and "None" not in record.target)
    missed = [record for record in run.faults if record.error is not None or "None" in record.target]
    detail = ", ".join(f"{fault} {count}" for fault, count in sorted(done.items()))
    if missed:
        detail += "; not injected: " + "; ".join(
            f"{r.fault} at {r.at:.0f} s ({r.error or 'no such process'})" for r in missed[:5]
        )
    return Check("faults injected", "INFO", detail)


def _restarts(run: Run) -> Check:
    exits = Counter(exit.name.rpartition(".")[0] for exit in run.exits)
    detail = ", ".join(
        f"{name} {count}"
        + (
            f" ({run.start_failures[name]} of them a pool process killed while the worker started: WorkerLostError)"
            if run.start_failures[name]
            else ""
        )
        for name, count in sorted(exits.items())
    )
    return Check("processes restarted by the process manager", "INFO", detail or "none")


@dataclass
class Report:
    profile: str
    seed: int
    checks: list[Check]
    figures: dict

    @property
    def passed(self) -> bool:
        return all(check.verdict != "FAIL" for check in self.checks)


def table(checks: list[Check]) -> str:
    width = max(len(check.name) for check in checks)
    return "\n".join(f"{check.verdict:4}  {check.name:<{width}}  {check.detail}" for check in checks)
