"""Limits on guessing credentials, after OWASP's Authentication Cheat Sheet: slow the guesser, never lock out the
person whose account it is.

Only failures count (a view marks a wrong password or token with `failed_credential()`), so a right password is
refused only where that address itself has been failing:
- per email and address (`LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS`, 5/minute;20/hour;50/day): an address guessing
  one user's password waits a minute after 5 failures, an hour after 20, a day after 50;
- per address (`LOGIN_RATE_LIMIT_PER_ADDRESS`, 20/minute;200/day): guessing across many emails (spraying);
- per email from every address (`LOGIN_RATE_LIMIT_PER_EMAIL`, 50/hour): past it the email is under attack from
  many addresses. Each address may then fail for it once per that window, so a distributed attack slows itself;
  an address that has not failed for it still signs in at once; and the attack is logged (a warning) and audited
  (`auth.sign_in_attack`, for the account's owners and staff) once per window.
Every endpoint that checks a password or a one-time token shares these counters (`guard`); one that sends mail
(a reset request) counts every request instead, since it cannot fail. flask-limiter keeps the counters in Redis
(its in-memory fallback while Redis is away); the per-email count is read and hit through its `limits` strategy,
because flask-limiter's decorators can refuse a request but not change another limit's rate.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, g, request
from flask_limiter import Limiter
from limits import parse, parse_many

from config import Settings
from smartcompute.accounts import audit
from smartcompute.accounts.models import User
from web.replies import actor, client_address
from web.runtime import db

log = logging.getLogger("smartcompute.web")
_SCOPE = "sign-in"  # one set of counters for every endpoint that checks a credential


def failed_credential() -> None:
    """Called by a view when the password or token it was given is wrong: the limits count this request."""
    g.failed_credential = True


def _failed(response: Response) -> bool:
    return bool(g.get("failed_credential"))


def _email() -> str | None:
    """Whose credential is tried: the signed-in user's, or the email the body names."""
    principal = g.get("principal")
    if principal is not None:
        return principal.email
    body = request.get_json(silent=True, cache=True)
    if not isinstance(body, dict):
        body = request.form  # the dashboard's sign-in form
    email = body.get("email")
    return email.strip().lower()[:320] if isinstance(email, str) and email.strip() else None


def _address() -> str:
    return request.remote_addr or "unknown"


class SignInLimits:
    def __init__(self, app: Flask, limiter: Limiter, settings: Settings):
        self._limiter = limiter
        self._per_email = parse_many(settings.LOGIN_RATE_LIMIT_PER_EMAIL)
        window = max(item.get_expiry() for item in self._per_email)
        self._under_attack = f"1 per {window} seconds"
        self._alert_once = parse(self._under_attack)
        self._per_pair = settings.LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS
        self._per_address = settings.LOGIN_RATE_LIMIT_PER_ADDRESS
        self._guarded: set[str] = set()
        app.after_request(self._count_failure_for_email)

    def guard(self, app: Flask, endpoint: str, *, count_every_request: bool = False) -> None:
        deduct = None if count_every_request else _failed
        pair = self._limiter.shared_limit(
            self._pair_limit,
            scope=f"{_SCOPE}:pair",
            key_func=self._pair,
            deduct_when=deduct,
            exempt_when=lambda: _email() is None,
            override_defaults=False,
        )
        address = self._limiter.shared_limit(
            self._per_address, scope=f"{_SCOPE}:address", key_func=_address, deduct_when=deduct, override_defaults=False
        )
        app.view_functions[endpoint] = address(pair(app.view_functions[endpoint]))
        if not count_every_request:
            self._guarded.add(endpoint)

    def _pair(self) -> str:
        return f"{_email()}|{_address()}"

    def _pair_limit(self) -> str:
        email = _email()
        return self._under_attack if email and self._is_under_attack(email) else self._per_pair

    def _is_under_attack(self, email: str) -> bool:
        return not all(self._limiter.limiter.test(item, _SCOPE, "email", email) for item in self._per_email)

    def _count_failure_for_email(self, response: Response) -> Response:
        email = _email() if request.endpoint in self._guarded and g.get("failed_credential") else None
        if email is None or not self._limiter.enabled:
            return response
        strategy = self._limiter.limiter
        within = all([strategy.hit(item, _SCOPE, "email", email) for item in self._per_email])  # a list: hit all
        if not within and strategy.hit(self._alert_once, _SCOPE, "alert", email):
            self._alert(email)
        return response

    def _alert(self, email: str) -> None:
        log.warning(
            "sign-in attack suspected: failed sign-ins for one email from many addresses are over "
            "LOGIN_RATE_LIMIT_PER_EMAIL",
            extra={"email": audit.submitted(email), "address": _address()},
        )
        session = db()
        user = session.query(User).filter_by(email=email).one_or_none()
        audit.record(
            session,
            actor(),
            "auth.sign_in_attack",
            account_id=user.account_id if user else None,
            target_type="user",
            target_id=user.id if user else None,
            details={
                "submitted_email": audit.submitted(email),
                "last_address": client_address(),
                "limit": str(self._per_email[0]),
            },
        )
        session.commit()
