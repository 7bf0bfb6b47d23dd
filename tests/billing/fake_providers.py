"""A local HTTP server speaking the documented payment-creation APIs of Coinbase Commerce (`POST /charges`),
BTCPay Server (`POST /api/v1/stores/{storeId}/invoices`) and NOWPayments (`POST /v1/payment`)."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_KEY = "fake-provider-api-key"
STORE_ID = "store-123"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.server.requests.append((self.path, dict(self.headers), body))
        if self.path == "/charges":
            return self._charge(body)
        if self.path == f"/api/v1/stores/{STORE_ID}/invoices":
            return self._invoice(body)
        if self.path == "/v1/payment":
            return self._payment(body)
        self._answer(404, {"error": "not found"})

    def _charge(self, body: dict) -> None:
        if self.headers.get("X-CC-Api-Key") != API_KEY or not self.headers.get("X-CC-Version"):
            return self._answer(401, {"error": {"type": "authorization_error"}})
        code = uuid.uuid4().hex[:8].upper()
        self._answer(
            201,
            {
                "data": {
                    "id": str(uuid.uuid4()),
                    "code": code,
                    "hosted_url": f"https://commerce.example/charges/{code}",
                    "expires_at": "2030-01-01T01:00:00Z",
                    "metadata": body.get("metadata"),
                    "pricing": {"bitcoin": {"amount": "0.00025000", "currency": "BTC"}},
                    "addresses": {"bitcoin": "bc1qcoinbaseexample"},
                }
            },
        )

    def _invoice(self, body: dict) -> None:
        if self.headers.get("Authorization") != f"token {API_KEY}":
            return self._answer(401, {"code": "unauthenticated"})
        invoice = uuid.uuid4().hex[:22]
        self._answer(
            200,
            {
                "id": invoice,
                "checkoutLink": f"https://btcpay.example/i/{invoice}",
                "status": "New",
                "amount": body.get("amount"),
                "currency": body.get("currency"),
                "metadata": body.get("metadata"),
                "expirationTime": 1893459600,
            },
        )

    def _payment(self, body: dict) -> None:
        if self.headers.get("x-api-key") != API_KEY:
            return self._answer(403, {"message": "Invalid api key"})
        self._answer(
            201,
            {
                "payment_id": str(uuid.uuid4().int)[:10],
                "payment_status": "waiting",
                "pay_address": "bc1qnowpaymentsexample",
                "price_amount": body["price_amount"],
                "price_currency": body["price_currency"],
                "pay_amount": 0.00025123,
                "pay_currency": body["pay_currency"],
                "order_id": body["order_id"],
                "expiration_estimate_date": "2030-01-01T01:00:00.000Z",
            },
        )


class FakeProviders:
    def __init__(self):
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def requests(self) -> list:
        return self.server.requests

    def __enter__(self) -> FakeProviders:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
