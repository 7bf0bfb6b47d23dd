"""The customers' callback receiver for the chaos harness: it sometimes fails or hangs, and keeps every delivery.

Signatures are checked once the run is over, with the secret of each job's account, by signing with the
`standardwebhooks` library (an implementation other than ours) and comparing; the timestamp is checked against
when the delivery arrived, as a receiver checks it against its clock (the library's own `verify` compares it
with the time of the check, and a long run's early deliveries would fail it).
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
from dataclasses import dataclass
from datetime import datetime, UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

TIMESTAMP_TOLERANCE_SECONDS = 300  # the Standard Webhooks libraries' default


@dataclass(frozen=True)
class Delivery:
    job_id: str | None
    headers: dict[str, str]
    body: bytes
    answered: str  # "ok", "failed" (a 500) or "hung" (answered after the sender's timeout)
    received_at: float  # time.time()

    def signed_by(self, secret: str) -> bool:
        try:
            moment = datetime.fromtimestamp(int(self.headers["webhook-timestamp"]), UTC)
            expected = Webhook(secret).sign(self.headers["webhook-id"], moment, self.body.decode())
        except (KeyError, ValueError):
            return False
        fresh = abs(self.received_at - moment.timestamp()) <= TIMESTAMP_TOLERANCE_SECONDS
        return fresh and any(
            hmac.compare_digest(expected, given) for given in self.headers.get("webhook-signature", "").split()
        )


class CallbackReceiver:
    """Answers 200, or 500 with probability `fail_rate`, or only after `hang_seconds` with `hang_rate`, until
    `heal()`; what it answered is recorded with each delivery."""

    def __init__(self, seed: int, *, fail_rate: float, hang_rate: float, hang_seconds: float):
        self.fail_rate, self.hang_rate, self.hang_seconds = fail_rate, hang_rate, hang_seconds
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._healthy = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="callback-receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/jobs"

    def start(self) -> None:
        self._thread.start()

    def heal(self) -> None:
        """From now on every delivery is answered 200 at once (the drain period)."""
        self._healthy = True

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self) -> str:
        with self._lock:
            if self._healthy:
                return "ok"
            draw = self._rng.random()
        if draw < self.fail_rate:
            return "failed"
        return "hung" if draw < self.fail_rate + self.hang_rate else "ok"

    def _record(self, headers: dict[str, str], body: bytes, answered: str) -> None:
        try:
            job_id = json.loads(body)["data"]["id"]
        except (ValueError, KeyError, TypeError):
            job_id = None
        with self._lock:
            self.deliveries.append(Delivery(job_id, headers, body, answered, time.time()))

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                answered = receiver._answer()
                receiver._record({key.lower(): value for key, value in self.headers.items()}, body, answered)
                if answered == "hung":
                    time.sleep(receiver.hang_seconds)
                self.send_response(500 if answered == "failed" else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        return Handler
