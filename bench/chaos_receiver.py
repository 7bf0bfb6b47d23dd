"""The customers' callback receiver for the chaos harness: it sometimes fails or hangs, and keeps every delivery.

Signatures are checked afterwards with the `standardwebhooks` library (an implementation other than ours), with
the secret each account reads from `GET /v1/account/callback-secret`.
"""
from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass(frozen=True)
class Delivery:
    job_id: str | None
    headers: dict[str, str]
    body: bytes
    answered: str  # "ok", "failed" (a 500) or "hung" (answered after the sender's timeout)

    def signed_by(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
            return True
        except WebhookVerificationError:
            return False


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
            self.deliveries.append(Delivery(job_id, headers, body, answered))

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
