"""The chaos harness's clients: jobs of every type and priority from many accounts, and payment webhooks.

Job clients send at a steady rate, most with an Idempotency-Key: on a refused or reset connection, a timeout
or a 5xx they send the same request again (honouring Retry-After), as a careful client does, and now and then
they send an accepted request again on purpose, which must answer the same job. Some jobs ask for a callback,
some are canceled. The webhook client plays a payment provider: it delivers each payment's events until
they are acknowledged, with duplicates and out of order. Every exchange is recorded for the invariant checks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, UTC

import httpx

from smartcompute.jobs.enums import JobType
from tests.support import telemetry

PRIORITIES = (("low", 0.25), ("normal", 0.45), ("high", 0.2), ("critical", 0.1))
RETRY_FOR_SECONDS = 90  # a client gives up on a request after this long (never reached in a healthy run)


@dataclass(frozen=True)
class Exchange:
    at: float  # seconds since the load started
    kind: str  # submit, replay, cancel, webhook
    status: int | None  # None: no HTTP answer (see `error`)
    error: str | None = None  # refused, reset, timeout
    retry_after: float | None = None  # the answer's Retry-After, seconds
    priority: str | None = None
    shed: bool = False  # a 503 refusing a job because too much work waits (admission control), not an outage


@dataclass(frozen=True)
class Accepted:
    job_id: str
    account: int  # index into the load's accounts
    priority: str
    key: str | None
    callback: bool
    sent_at: float  # the first attempt of the request
    accepted_at: float


@dataclass
class PaymentPlan:
    payment_id: str
    outcome: str  # confirmed or failed: what the provider's events say in the end
    events: list[tuple[str, str]]  # (event id, status) in the order they are delivered, duplicates included


@dataclass
class LoadRecord:
    exchanges: list[Exchange] = field(default_factory=list)
    accepted: list[Accepted] = field(default_factory=list)
    replays_answering_another_job: list[str] = field(default_factory=list)
    not_repeated: int = 0  # requests without an Idempotency-Key, not sent again after an error (by design)
    given_up: int = 0  # requests still failing after RETRY_FOR_SECONDS of retries
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def extend(self, other: LoadRecord) -> None:
        """Add what another load (an earlier phase of the run) recorded."""
        with self.lock:
            self.exchanges.extend(other.exchanges)
            self.accepted.extend(other.accepted)
            self.replays_answering_another_job.extend(other.replays_answering_another_job)
            self.not_repeated += other.not_repeated
            self.given_up += other.given_up


class _Answer:
    """One attempt's outcome: a response, or the kind of failure that left none."""

    def __init__(self, response: httpx.Response | None, error: str | None):
        self.response, self.error = response, error

    @property
    def status(self) -> int | None:
        return self.response.status_code if self.response is not None else None

    def retry_after(self) -> float | None:
        value = self.response.headers.get("Retry-After") if self.response is not None else None
        return float(value) if value and value.isdigit() else None

    def worth_retrying(self) -> bool:
        return self.error is not None or self.status >= 500

    def shed(self) -> bool:
        if self.status != 503:
            return False
        try:
            return self.response.json().get("type") == "/problems/overloaded"
        except ValueError:
            return False


def _attempt(client: httpx.Client, method: str, path: str, **kwargs) -> _Answer:
    try:
        return _Answer(client.request(method, path, **kwargs), None)
    except httpx.ConnectError:
        return _Answer(None, "refused")
    except httpx.TimeoutException:
        return _Answer(None, "timeout")
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
        return _Answer(None, "reset")


class Load:
    def __init__(
        self,
        base_url: str,
        api_keys: list[str],
        callback_url: str,
        *,
        rate: float,
        clients: int,
        seed: int,
        webhook_secret: str,
        payments: list[PaymentPlan],
        seconds: float,
        started: float,
        retry_refused: bool = True,
        callback_share: float = 0.3,
    ):
        self.base_url, self.api_keys, self.callback_url = base_url, api_keys, callback_url
        self.seconds = seconds
        self.retry_refused = retry_refused  # False: a job refused as the backlog is too long is dropped
        self.callback_share = callback_share  # of jobs that ask for a callback
        self.rate, self.clients, self.seed = rate, clients, seed
        self.webhook_secret, self.payments = webhook_secret, payments
        self.record = LoadRecord()
        self._started = started
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(index,), name=f"client-{index}", daemon=True)
            for index in range(clients)
        ]
        if payments:
            self._threads.append(threading.Thread(target=self._provider, name="payment-provider", daemon=True))

    def now(self) -> float:
        return time.monotonic() - self._started

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float) -> None:
        """No new requests; requests in progress (with their retries) may finish within `timeout`."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))

    def _http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(30, connect=3))

    def _client(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        interval = self.clients / self.rate
        next_send = time.monotonic() + rng.uniform(0, interval)
        with self._http() as client:
            while not self._stop.is_set():
                self._stop.wait(max(0.0, next_send - time.monotonic()))
                if self._stop.is_set():
                    break
                next_send += interval * rng.uniform(0.5, 1.5)
                self._one_job(client, rng)

    def _one_job(self, client: httpx.Client, rng: random.Random) -> None:
        account = rng.randrange(len(self.api_keys))
        priority = rng.choices([name for name, _ in PRIORITIES], [weight for _, weight in PRIORITIES])[0]
        job_type = rng.choice(list(JobType))
        host = f"host-{rng.randint(1, 6)}" if rng.random() < 0.5 else None
        body = {
            "type": job_type,
            "priority": priority,
            "data": telemetry(rng.randint(60, 240), host=host, seed=rng.randrange(10**6)),
        }
        callback = rng.random() < self.callback_share
        if callback:
            body["callback_url"] = self.callback_url
        key = f"chaos-{uuid.UUID(int=rng.getrandbits(128))}" if rng.random() < 0.9 else None
        headers = {"X-API-Key": self.api_keys[account], **({"Idempotency-Key": key} if key else {})}
        sent_at = self.now()
        answer = self._until_answered(
            client, "submit", "POST", "/v1/jobs", json=body, headers=headers, retry=key is not None, priority=priority
        )
        if answer is None or answer.status != 202:
            return
        job_id = answer.response.json()["id"]
        with self.record.lock:
            self.record.accepted.append(Accepted(job_id, account, priority, key, callback, sent_at, self.now()))
        if key and rng.random() < 0.1:  # the client sends it again on purpose: it is the same job
            again = self._until_answered(
                client, "replay", "POST", "/v1/jobs", json=body, headers=headers, retry=True, priority=priority
            )
            if again is not None and again.status == 202 and again.response.json()["id"] != job_id:
                with self.record.lock:
                    self.record.replays_answering_another_job.append(job_id)
        if rng.random() < 0.05:
            self._until_answered(
                client,
                "cancel",
                "POST",
                f"/v1/jobs/{job_id}/cancel",
                headers={"X-API-Key": self.api_keys[account]},
                retry=True,
            )

    def _until_answered(
        self,
        client: httpx.Client,
        kind: str,
        method: str,
        path: str,
        *,
        retry: bool,
        priority: str | None = None,
        **kwargs,
    ) -> _Answer | None:
        """Send until an answer that is not worth retrying; None when it gives up."""
        deadline = time.monotonic() + RETRY_FOR_SECONDS
        while True:
            answer = _attempt(client, method, path, **kwargs)
            shed = answer.shed()
            self.record.add(
                Exchange(self.now(), kind, answer.status, answer.error, answer.retry_after(), priority, shed)
            )
            if not answer.worth_retrying() or (shed and not self.retry_refused):
                return answer
            if not retry or time.monotonic() > deadline:
                with self.record.lock:
                    if retry:
                        self.record.given_up += 1
                    else:
                        self.record.not_repeated += 1
                return None
            time.sleep(min(answer.retry_after() or 0.5, 3.0))

    def _provider(self) -> None:
        """Delivers every payment's events, spread over the run (the rest at once once the load stops), each until
        it is acknowledged with a 200."""
        rng = random.Random(self.seed * 7919)
        deliveries = [(payment, event) for payment in self.payments for event in payment.events]
        spacing = self.seconds / (len(deliveries) + 1)
        with self._http() as client:
            for payment, (event_id, status) in deliveries:
                self._stop.wait(spacing * rng.uniform(0.5, 1.5))
                body = json.dumps(
                    {
                        "id": event_id,
                        "type": f"payment.{status}",
                        "created_at": datetime.now(UTC).isoformat(),
                        "data": {
                            "payment_id": payment.payment_id,
                            "status": status,
                            "amount": PAID_AMOUNT,
                            "currency": PAID_CURRENCY,
                        },
                    }
                ).encode()
                signature = "sha256=" + hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
                self._until_answered(
                    client,
                    "webhook",
                    "POST",
                    "/v1/webhooks/payments/generic",
                    content=body,
                    headers={"Content-Type": "application/json", "X-Webhook-Signature": signature},
                    retry=True,
                )


# What every payment of the run costs (bench/chaos_stack.py opens them at this price): a confirmation says what
# was paid, or it credits nothing and waits for review.
PAID_AMOUNT, PAID_CURRENCY = "10", "USD"


def payment_plan(payment_id: str, rng: random.Random) -> PaymentPlan:
    """Most payments are confirmed, some fail; events arrive twice, and the confirmation sometimes first."""
    outcome = "confirmed" if rng.random() < 0.8 else "failed"
    pending, final = (
        (f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}", "pending"),
        (f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}", outcome),
    )
    events = [final, pending] if rng.random() < 0.3 else [pending, final]
    events.append(final)  # the provider delivers the final event again (the same event id)
    if outcome == "confirmed" and rng.random() < 0.3:
        events.append((f"evt_{uuid.UUID(int=rng.getrandbits(128)).hex}", "confirmed"))  # resent under a new id
    rng.shuffle(events)
    return PaymentPlan(payment_id, outcome, events)
