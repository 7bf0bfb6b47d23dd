"""`smartcompute agent`: sample the host, batch the samples into jobs, and send them through the spool.

The sampling loop never waits on the API: each finished batch goes into the on-disk spool, and a sender thread
sends the spool's batches in order, each with an Idempotency-Key derived from the host and the batch's start,
waiting out an unavailable API with exponential backoff and jitter (and at least its Retry-After). On SIGTERM
the batches being gathered are spooled, and the sender has AGENT_SHUTDOWN_SECONDS to send what it can; the rest
waits for the next start.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from config.settings import IngestSettings
from smartcompute.ingest.api_client import ApiClient, NotAllowed, Refused, TryLater
from smartcompute.ingest.backoff import Backoff
from smartcompute.ingest.sampler import HostSampler
from smartcompute.ingest.spool import Spool
from smartcompute.ingest.windows import THREAT_METRICS, SampleWindow, idempotency_key
from smartcompute.jobs.enums import JobType

log = logging.getLogger("smartcompute.agent")
_IDLE_SECONDS = 1.0


class Agent:
    def __init__(
        self,
        settings: IngestSettings,
        host: str,
        client: ApiClient,
        spool: Spool,
        sampler: HostSampler,
        *,
        clock: Callable[[], float] = time.time,
    ):
        self.settings, self.host, self.client, self.spool, self.sampler = settings, host, client, spool, sampler
        self.clock = clock
        self.stop = threading.Event()  # set by SIGTERM / SIGINT
        self._wake = threading.Event()  # a batch was spooled, or the agent is shutting down
        self._deadline: float | None = None  # once stopping: when the sender gives up
        self._samples_per_batch = max(1, round(settings.AGENT_BATCH_SECONDS / settings.AGENT_INTERVAL_SECONDS))
        self._samples_per_threat = round(settings.AGENT_THREAT_SECONDS / settings.AGENT_INTERVAL_SECONDS)

    def run(self) -> None:
        state = self.spool.state()
        log.info(
            "agent started",
            extra={
                "host": self.host,
                "api": self.client.base_url,
                "interval_seconds": self.settings.AGENT_INTERVAL_SECONDS,
                "batch_seconds": self.settings.AGENT_BATCH_SECONDS,
                "threat_seconds": self.settings.AGENT_THREAT_SECONDS,
                "spool": str(self.spool.path),
                "batches_waiting": state.batches,
            },
        )
        sender = threading.Thread(target=self._send_spooled, name="smartcompute-agent-sender", daemon=True)
        sender.start()
        anomaly, threat = self._sample_until_stopped()
        self._spool_window(JobType.ANOMALY_DETECTION, anomaly)
        self._spool_window(JobType.THREAT_ANALYSIS, threat)
        self._deadline = time.monotonic() + self.settings.AGENT_SHUTDOWN_SECONDS
        self._wake.set()
        sender.join(self.settings.AGENT_SHUTDOWN_SECONDS + self.settings.INGEST_TIMEOUT_SECONDS)
        state = self.spool.state()
        log.info(
            "agent stopped", extra={"batches_waiting": state.batches, "dropped_when_full": state.dropped_when_full}
        )

    def _sample_until_stopped(self) -> tuple[SampleWindow, SampleWindow]:
        """Sample on a fixed schedule (no drift from the time sampling takes) until stopped; returns the windows
        being gathered. The first sample comes an interval after the start: rates and CPU shares are measured over
        the time since the previous reading, and a few milliseconds would make them noise."""
        anomaly, threat = SampleWindow(), SampleWindow()
        interval = self.settings.AGENT_INTERVAL_SECONDS
        next_sample = time.monotonic() + interval
        while not self.stop.wait(next_sample - time.monotonic()):
            now = self.clock()
            metrics = self.sampler.sample(now)
            anomaly.add(now, metrics)
            if len(anomaly) >= self._samples_per_batch:
                self._spool_window(JobType.ANOMALY_DETECTION, anomaly)
                anomaly = SampleWindow()
            if self._samples_per_threat:
                threat.add(now, {name: metrics[name] for name in THREAT_METRICS if name in metrics})
                if len(threat) >= self._samples_per_threat:
                    self._spool_window(JobType.THREAT_ANALYSIS, threat)
                    threat = SampleWindow()
            next_sample += interval
            if next_sample < time.monotonic():  # the host was too busy (or suspended): skip, do not catch up
                next_sample = time.monotonic() + interval
        return anomaly, threat

    def _spool_window(self, job_type: str, window: SampleWindow) -> None:
        start = window.start
        if start is None:  # an empty window
            return
        data = window.data(self.host)
        if job_type == JobType.THREAT_ANALYSIS and self.sampler.watch is not None:
            connections, processes, left_out = self.sampler.watch.take()
            data.update(connections=connections, processes=processes)
            if left_out:
                log.warning("records left out of a threat job (its per-job bounds)", extra={"left_out": left_out})
        if not data["metrics"]:
            return
        key = idempotency_key("threat" if job_type == JobType.THREAT_ANALYSIS else "anomaly", self.host, start)
        dropped = self.spool.add(key, job_type, data)
        log.info(
            "batch spooled",
            extra={
                "job_type": job_type,
                "idempotency_key": key,
                "samples": len(window),
                "metrics": len(data["metrics"]),
            },
        )
        if dropped:
            log.warning(
                "spool full: oldest batches dropped",
                extra={"dropped": dropped, "dropped_when_full": self.spool.state().dropped_when_full},
            )
        self._wake.set()

    def _send_spooled(self) -> None:
        backoff = Backoff()
        while not self._sender_done():
            batch = self.spool.oldest()
            if batch is None:
                self._wake.wait(_IDLE_SECONDS)
                self._wake.clear()
                continue
            try:
                job = self.client.submit_job(batch.job_type, batch.data, batch.idempotency_key)
            except Refused as error:
                self.spool.remove(batch.seq, refused=True)
                log.error(
                    "the API refused a batch; it is dropped",
                    extra={"idempotency_key": batch.idempotency_key, "error": str(error)},
                )
                continue
            except TryLater as error:
                delay = backoff.next_delay(error.retry_after)
                level = logging.ERROR if isinstance(error, NotAllowed) else logging.WARNING
                log.log(
                    level,
                    "the API cannot take batches now; retrying",
                    extra={"error": str(error), "retry_in_seconds": round(delay, 2), "failures": backoff.failures},
                )
                self._pause(delay)
                continue
            self.spool.remove(batch.seq)
            backoff.reset()
            log.info("batch sent", extra={"idempotency_key": batch.idempotency_key, "job_id": job.get("id")})

    def _sender_done(self) -> bool:
        if self._deadline is None:
            return False
        return time.monotonic() >= self._deadline or self.spool.oldest() is None

    def _pause(self, seconds: float) -> None:
        if not self.stop.is_set():
            self.stop.wait(seconds)  # a stop cuts the wait short: one more try before shutting down
            return
        deadline = self._deadline if self._deadline is not None else time.monotonic() + 0.1
        time.sleep(max(0.0, min(seconds, deadline - time.monotonic())))
