"""The public API as the programs that send it telemetry see it: an API key, an Idempotency-Key per job, and the
answers that mean "later" (429 and 503 with Retry-After; 502 and 504 from a proxy whose API is restarting).

urllib3 (already a dependency) carries the requests; retrying is the caller's, because the agent must keep
sampling and stay ready to stop while it waits, and the Prometheus import waits on its own schedule.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import quote

import urllib3

import smartcompute
from smartcompute import jsoncodec

_LATER = {408, 429, 500, 502, 503, 504}  # 500: a restarting API can fail a request it will take again
_NEEDS_AN_OPERATOR = {401, 402, 403}  # a key revoked or lacking a scope, credits run out: wait, do not drop


class ApiError(Exception):
    """The API did not take the request; the message is one line."""


class TryLater(ApiError):
    """The API is unreachable, overloaded, restarting or rate-limiting: send the same request again later."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class NotAllowed(TryLater):
    """The key or the account needs an operator (401, 402, 403): what was to be sent keeps until it is fixed."""


class Refused(ApiError):
    """The API will never take this request as it is (400, 404, 409, 413, 422...): sending it again is useless."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class ApiClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        ca_file: str | None = None,
        user_agent: str = "smartcompute-client",
    ):
        self.base_url = base_url.rstrip("/")
        self._headers = {
            "X-API-Key": api_key,
            "Accept": "application/json",
            "User-Agent": f"{user_agent}/{smartcompute.__version__}",
        }
        self._http = urllib3.PoolManager(
            retries=False, timeout=urllib3.Timeout(total=timeout), ca_certs=ca_file, maxsize=2
        )

    def submit_job(
        self, job_type: str, data: dict[str, Any], idempotency_key: str, *, priority: str = "normal"
    ) -> dict[str, Any]:
        """The job as the API answered 202 (the earlier job when the key was already used with this body)."""
        body = jsoncodec.dumps_bytes({"type": job_type, "priority": priority, "data": data})
        return self._request(
            "POST",
            "/v1/jobs",
            body=body,
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )

    def host(self, name: str) -> dict[str, Any] | None:
        """The host with its open incidents; None when the API knows no such host yet."""
        try:
            return self._request("GET", f"/v1/hosts/{quote(name, safe='')}")
        except Refused as error:
            if error.status == 404:
                return None
            raise

    def account(self) -> dict[str, Any]:
        """The caller's account: its plan's limits (points per job...) and today's usage."""
        return self._request("GET", "/v1/account")

    def _request(
        self, method: str, path: str, *, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        url = self.base_url + path
        try:
            response = self._http.request(method, url, body=body, headers={**self._headers, **(headers or {})})
        except urllib3.exceptions.HTTPError as error:
            raise TryLater(f"cannot reach {self.base_url}: {_reason(error)}") from None
        if 200 <= response.status < 300:
            return jsoncodec.loads(response.data) if response.data else {}
        message = f"{method} {path} answered {response.status}: {_problem_text(response.data)}"
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if response.status in _NEEDS_AN_OPERATOR:
            raise NotAllowed(message, retry_after)
        if response.status in _LATER:
            raise TryLater(message, retry_after)
        raise Refused(message, response.status)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Retry-After as seconds from now: delay-seconds or an HTTP date (RFC 9110, section 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))


def _problem_text(raw: bytes) -> str:
    """What a problem+json says, on one line; another body's start."""
    try:
        problem = jsoncodec.loads(raw)
    except ValueError:
        problem = None
    if isinstance(problem, dict) and ("detail" in problem or "title" in problem):
        text = str(problem.get("detail") or problem.get("title"))
        errors = problem.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            text += f" ({errors[0].get('field')}: {errors[0].get('message')})"
        return " ".join(text.split())
    return " ".join(raw[:200].decode(errors="replace").split()) or "no body"


def _reason(error: Exception) -> str:
    """urllib3's reason without its repetition of the URL: "[Errno 111] Connection refused"."""
    text = " ".join(str(getattr(error, "reason", None) or error).split())
    return text.rsplit("Failed to establish a new connection: ", 1)[-1]
