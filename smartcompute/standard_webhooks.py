"""The Standard Webhooks signature (standardwebhooks.com), v1: base64 HMAC-SHA256 of `<id>.<timestamp>.<body>`,
keyed by the bytes whose base64 follows `whsec_` in the secret. Payment events we receive and job callbacks we
send are both signed this way."""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"


def key_of(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
