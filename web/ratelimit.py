"""Fair use: per-plan request limits with flask-limiter on Redis, the IETF and X-RateLimit headers, 429s.

Authenticated calls are counted per account, against its plan's rate, whichever of its keys or sign-ins makes
them (so more keys never mean more requests), and a key with a rate of its own is also counted alone against
that; anonymous calls are counted per client address (`request.remote_addr`, which `TRUSTED_PROXY_COUNT` lets
ProxyFix take from the trusted proxy's X-Forwarded-For entry only). Failed sign-ins are limited on top
(web/sign_in_limits.py). Payment webhooks, whose URLs need no credentials, have a per-address limit of their own
that no real provider reaches, in place of the anonymous one; a delivery over it is refused before its body is
read.

Redis down: limits fall back to each process's memory (flask-limiter's in-memory fallback) until Redis
answers again, with one error log line on the switch and `/health/ready` failing. Failing open would drop
the sign-in brute-force limit; failing closed would turn a Redis outage into an API outage. Per-process
limits keep both: the API serves, and a client gets at most (processes x limit).
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar

from flask import Flask, Response, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits.storage import RedisStorage

from config import Settings
from web.problems import Problem, problem_response
from web.routes import operation_of
from web.sign_in_limits import SignInLimits

log = logging.getLogger("smartcompute.web")
# Endpoints that check a password or a one-time token: they share the sign-in limits.
_CREDENTIAL_ENDPOINTS = (
    "tokens.issue_token",
    "passwords.change_password",
    "passwords.confirm_reset",
    "invitations.accept",
    "dashboard.sign_in",
)
_WEBHOOK_ENDPOINT = "webhooks.receive_payment_event"
_KEY_SCOPE = "api-key"


def _client_address() -> str:
    return request.remote_addr or "unknown"


def rate_key() -> str:
    principal = g.get("principal")
    if principal is None:
        return f"addr:{_client_address()}"
    return f"account:{principal.account_id}"


def _own_key_rate() -> str:
    """The calling key's own rate; none (an empty limit) for a sign-in or a key without one."""
    principal = g.get("principal")
    return (principal.key_rate_limit or "") if principal is not None else ""


def _own_key() -> str:
    return f"key:{g.principal.api_key_id}"


def _webhook_address_key() -> str:
    return f"webhook-addr:{_client_address()}"


# (limit key, count after this request's hit, when its window ends): set by the hit, read by the headers.
_last_hit: ContextVar[tuple[str, int, float] | None] = ContextVar("rate_limit_last_hit", default=None)
_INCR_EXPIRE_TTL = """
local current = redis.call("incrby", KEYS[1], tonumber(ARGV[2]))
if current == tonumber(ARGV[2]) then redis.call("expire", KEYS[1], ARGV[1]) end
return {current, redis.call("pttl", KEYS[1])}
"""


class HitReportingRedisStorage(RedisStorage):
    """limits' Redis storage whose fixed-window hit also reads the window's remaining time, in the same
    script, so the rate-limit headers need no second round trip to Redis on every request."""

    STORAGE_SCHEME = ["smartcompute+redis", "smartcompute+rediss", "smartcompute+redis+unix"]

    def __init__(self, uri: str, **options) -> None:
        super().__init__(uri.removeprefix("smartcompute+"), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_expire_ttl = self.get_connection().register_script(_INCR_EXPIRE_TTL)

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        count, ttl_ms = self.lua_incr_expire_ttl([self.prefixed_key(key)], [expiry, amount])
        _last_hit.set((key, int(count), time.time() + max(int(ttl_ms), 0) / 1000))
        return int(count)


def _forget_last_hit() -> None:
    _last_hit.set(None)


def _storage_uri(redis_url: str) -> str:
    # redis-py writes a unix socket as unix://; the limits library spells it redis+unix://.
    uri = "redis+unix://" + redis_url[len("unix://") :] if redis_url.startswith("unix://") else redis_url
    return "smartcompute+" + uri


def create_limiter(app: Flask, settings: Settings) -> Limiter:
    """Call after the request hook that resolves the principal, so limits can be keyed by it."""

    def request_limit() -> str:
        principal = g.get("principal")
        if principal is None:
            return settings.ANONYMOUS_RATE_LIMIT
        return settings.plan_limits(principal.plan).requests

    app.config.update(
        RATELIMIT_STORAGE_URI=_storage_uri(settings.REDIS_URL),
        RATELIMIT_STORAGE_OPTIONS={
            "key_prefix": settings.RATE_LIMIT_KEY_PREFIX,
            "socket_connect_timeout": 0.5,
            "socket_timeout": 0.5,
        },
        RATELIMIT_STRATEGY="fixed-window",
        RATELIMIT_HEADERS_ENABLED=False,
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
    )
    limiter = Limiter(
        key_func=rate_key,
        application_limits=[request_limit],
        application_limits_exempt_when=lambda: request.endpoint == _WEBHOOK_ENDPOINT,
    )
    app.before_request(_forget_last_hit)  # registered before the limiter's own check, so it runs first
    exempt = {
        endpoint
        for endpoint, view in app.view_functions.items()
        if (declared := operation_of(view)) is not None and not declared.rate_limited
    }
    limiter.request_filter(lambda: request.endpoint in exempt)
    limiter.init_app(app)
    sign_in_limits = SignInLimits(app, limiter, settings)
    for endpoint in _CREDENTIAL_ENDPOINTS:
        sign_in_limits.guard(app, endpoint)
    sign_in_limits.guard(app, "passwords.request_reset", count_every_request=True)  # it mails: each one counts
    _limit_webhooks(app, limiter, settings)
    # A key's own rate holds across every route, so it is one bucket (scope) shared by every blueprint's routes.
    own_key_limit = limiter.shared_limit(_own_key_rate, scope=_KEY_SCOPE, key_func=_own_key, override_defaults=False)
    for blueprint in app.blueprints.values():
        own_key_limit(blueprint)
    app.register_error_handler(RateLimitExceeded, lambda error: _too_many_requests(limiter, error))
    storage_watch = _StorageWatch(limiter)
    app.after_request(lambda response: _stamp_headers(limiter, storage_watch, response))
    return limiter


def _limit_webhooks(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """In place of the anonymous limit (application_limits_exempt_when above)."""
    limit = limiter.limit(settings.WEBHOOK_RATE_LIMIT_PER_ADDRESS, key_func=_webhook_address_key)
    app.view_functions[_WEBHOOK_ENDPOINT] = limit(app.view_functions[_WEBHOOK_ENDPOINT])


def _seconds_until(reset_at: float) -> int:
    return max(1, math.ceil(reset_at - time.time()))


def _too_many_requests(limiter: Limiter, error: RateLimitExceeded) -> Response:
    current = limiter.current_limit
    retry_after = _seconds_until(current.reset_at) if current else 60
    return problem_response(
        Problem(
            429,
            f"rate limit of {error.limit.limit} exceeded; retry in {retry_after}s",
            kind="rate-limited",
            headers={"Retry-After": str(retry_after)},
        )
    )


class _StorageWatch:
    """Logs once each time flask-limiter switches to its in-memory fallback (Redis failed) and back.

    The strategy in use (`Limiter.limiter`) counts in Redis, the limiter's `storage`, unless the fallback is on."""

    def __init__(self, limiter: Limiter) -> None:
        self._limiter = limiter
        self.shared = True

    def check(self) -> bool:
        """Whether limits are counted in Redis now, logging a switch."""
        shared = self._limiter.limiter.storage is self._limiter.storage
        if shared != self.shared:
            self.shared = shared
            if shared:
                log.warning("rate-limit storage (Redis) reachable again: limits are shared again")
            else:
                log.error("rate-limit storage (Redis) unreachable: limits are now kept per process in memory")
        return shared


def _window(limiter: Limiter, current, shared: bool) -> tuple[int, float]:
    """(remaining, reset time) of the limit reported: from this request's own hit when there was one (no
    round trip), else one pipelined round trip instead of the two commands `RequestLimit.window` sends."""
    storage, key = limiter.storage, current.limit.key_for(*current.request_args)
    hit = _last_hit.get()
    if isinstance(storage, HitReportingRedisStorage) and hit is not None and hit[0] == key:
        return max(0, current.limit.amount - hit[1]), hit[2]
    if isinstance(storage, RedisStorage) and shared:
        key = storage.prefixed_key(key)
        count, ttl = storage.get_connection(True).pipeline(transaction=False).get(key).ttl(key).execute()
        return max(0, current.limit.amount - int(count or 0)), time.time() + max(ttl, 0)
    return max(0, current.remaining), current.reset_at


def _policy_name(current) -> str:
    if _KEY_SCOPE in current.request_args:
        return "key"
    if g.get("principal") is not None:
        return "plan"
    return "webhook" if request.endpoint == _WEBHOOK_ENDPOINT else "anonymous"


def _stamp_headers(limiter: Limiter, storage_watch: _StorageWatch, response: Response) -> Response:
    shared = storage_watch.check()
    current = limiter.current_limit if limiter.enabled else None
    if current is None:
        return response
    try:
        amount, window = current.limit.amount, current.limit.get_expiry()
        remaining, reset_at = _window(limiter, current, shared)
        reset = _seconds_until(reset_at)
    except Exception as error:  # Redis failed after the check; the response matters more than its headers
        log.warning("rate-limit headers skipped", extra={"error": str(error)})
        return response
    policy = _policy_name(current)
    response.headers["RateLimit-Policy"] = f'"{policy}";q={amount};w={window}'
    response.headers["RateLimit"] = f'"{policy}";r={remaining};t={reset}'
    response.headers["X-RateLimit-Limit"] = str(amount)
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = str(int(reset_at))
    return response
