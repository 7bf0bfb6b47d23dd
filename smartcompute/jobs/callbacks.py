"""Telling a customer that a job finished: a signed POST to the `callback_url` they gave with the job.

The notification is thin, the way Standard Webhooks' own examples are: the job's id, status and error, and
where to fetch the rest. So a receiver that fetches the job with its own credentials learns nothing from a
forged or replayed notification, and a result never travels to a URL that might be wrong. It is still signed
(`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the account's callback secret, so receivers can
drop what we did not send.

Delivery is at least once, and `webhook-id` is the job id on every attempt so a receiver can deduplicate. A
row of `job_callbacks` is the outbox: due once its job has finished, until a 2xx answer or the last retry.
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, UTC
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, text

from smartcompute import jsoncodec, standard_webhooks
from smartcompute.db import Database, connection_of, utcnow
from smartcompute.jobs.enums import FINISHED_STATUSES, sql_list

MAX_URL_LENGTH = 2048
# Seconds to wait after each failed attempt: about a day in all, then the callback is given up.
RETRY_AFTER_SECONDS = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600)
MAX_ATTEMPTS = len(RETRY_AFTER_SECONDS) + 1


class CallbackUrlError(ValueError):
    """The callback URL cannot be used; the message says why, for the field's 422."""


@dataclass(frozen=True)
class Delivery:
    """One attempt, claimed: what to send, where, and with which secret."""

    job_id: uuid.UUID
    account_id: uuid.UUID
    url: str
    attempt: int
    secret: str
    body: bytes
    quiet_until: datetime | None = None  # the account's receiver is left alone until then (see QUIET_SECONDS)


# After an attempt that held its worker for at least half the timeout without a 2xx, no worker tries the
# account's callbacks for this long: they are recorded as not tried and wait for their retries, so none is
# lost. A receiver that hangs would otherwise take a worker process the analyses share for the whole timeout
# of every job's every attempt; with this, it costs the whole installation one timeout a minute, however
# many worker processes there are (the mark is on the account's row, read with each claimed attempt).
QUIET_SECONDS = 60


def left_hanging(outcome: Outcome, *, seconds: float, timeout: float) -> bool:
    return not outcome.delivered and seconds >= timeout / 2


def is_quiet(delivery: Delivery, now: datetime) -> bool:
    """The account's receiver hung on an attempt less than QUIET_SECONDS ago: leave this attempt untried."""
    return delivery.quiet_until is not None and delivery.quiet_until > now


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    status: int | None = None  # the receiver's HTTP status, when it answered
    error: str | None = None
    final: bool = False  # no point in trying again (the receiver answered 410 Gone)


def checked_url(url: str, *, allow_private: bool) -> str:
    """The URL as given, when it is an absolute http(s) URL we may send to; CallbackUrlError otherwise.

    Host names are resolved only when sending (`callback_http`), where every address is checked again: a
    name can point anywhere later. Here an address literal, or a name that is local by definition, is refused
    at once unless private networks are allowed (a self-hosted install whose receivers are internal)."""
    if len(url) > MAX_URL_LENGTH:
        raise CallbackUrlError(f"must be at most {MAX_URL_LENGTH} characters")
    if any(ord(character) < 0x21 or ord(character) == 0x7F for character in url):
        raise CallbackUrlError("must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise CallbackUrlError(f"is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CallbackUrlError("must be an absolute http or https URL")
    if parts.username is not None or parts.password is not None:
        raise CallbackUrlError("must not contain a user name or password; check the signature instead")
    if parts.fragment or url.endswith("#"):
        raise CallbackUrlError("must not contain a fragment")
    if port == 0:
        raise CallbackUrlError("must not name port 0")
    if not allow_private and is_private_host(parts.hostname):
        raise CallbackUrlError("must not point at a private, loopback or link-local address")
    return url


def is_private_host(host: str) -> bool:
    """An address that is not globally routable, or a name that always means this machine or its network."""
    name = unicodedata.normalize("NFKC", host).rstrip(".").lower()  # as IDNA reads it: １２７.０.０.１ is 127.0.0.1
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return True
    address = _address_literal(name.strip("[]").split("%")[0])
    return address is not None and not is_public_address(address)


def _address_literal(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host name denotes by itself; the C resolver also reads the old IPv4 forms (0x7f000001,
    2130706433, 127.1, 0177.0.0.1), so they are addresses too."""
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(name))
    except OSError:
        return None


# IPv6 forms that carry an IPv4 address. The deprecated and local-use ones are never a receiver on the internet;
# the others reach the IPv4 address they carry (through a translator or relay), so that address is judged.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # ::a.b.c.d, deprecated by RFC 4291
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # ::ffff:0:a.b.c.d, RFC 2765 (obsolete)
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local use only
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052's well-known prefix, the IPv4 address in the last 32 bits


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        if address in _IPV4_COMPATIBLE or address in _IPV4_TRANSLATED or address in _LOCAL_NAT64:
            return False
        address = embedded_ipv4(address) or address
    return address.is_global and not address.is_multicast


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped (::ffff:a.b.c.d), 6to4 (2002::/16) or NAT64 (64:ff9b::/96) address reaches."""
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def new_secret() -> str:
    return standard_webhooks.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


_SECRET = text("SELECT callback_secret FROM accounts WHERE id = :account_id")
_FIRST_SECRET = text("""
    UPDATE accounts SET callback_secret = coalesce(callback_secret, :new_secret) WHERE id = :account_id
    RETURNING callback_secret""")
_ROTATE_SECRET = text(
    "UPDATE accounts SET callback_secret = :new_secret WHERE id = :account_id RETURNING callback_secret"
)


def account_secret(db: Database, account_id: uuid.UUID) -> str:
    """The account's callback secret, made on first use (two first uses at once agree). The caller commits."""
    secret = connection_of(db).execute(_SECRET, {"account_id": account_id}).scalar_one()
    if secret is None:
        parameters = {"account_id": account_id, "new_secret": new_secret()}
        secret = connection_of(db).execute(_FIRST_SECRET, parameters).scalar_one()
    return secret


def rotate_secret(db: Database, account_id: uuid.UUID) -> str:
    """A new secret; callbacks sent from the commit on are signed with it. The caller commits."""
    parameters = {"account_id": account_id, "new_secret": new_secret()}
    return connection_of(db).execute(_ROTATE_SECRET, parameters).scalar_one()


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    signature = standard_webhooks.signature(standard_webhooks.key_of(secret), message_id, timestamp, body)
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def notification(job: dict[str, Any], sent_at: datetime) -> bytes:
    return jsoncodec.dumps_bytes(
        {
            "type": "job.finished",
            "timestamp": sent_at.isoformat(),
            "data": {**job, "url": f"/v1/jobs/{job['id']}"},
        }
    )


_FINISHED = sql_list(FINISHED_STATUSES)
# An open callback (neither delivered nor given up) of a finished job: what is being tried.
_OPEN_AND_FINISHED = f"c.delivered_at IS NULL AND c.given_up_at IS NULL AND j.status IN {_FINISHED}"

# Takes the attempt (its lease is the next_attempt_at it sets), but only of a finished job whose callback is
# open and due; two workers racing for it cannot both win. Returns what the notification needs.
_CLAIM = text(f"""
    UPDATE job_callbacks AS c SET attempts = c.attempts + 1, next_attempt_at = :lease_until, published_at = NULL
    FROM jobs AS j JOIN accounts AS a ON a.id = j.account_id
    WHERE c.job_id = :job_id AND j.id = c.job_id AND {_OPEN_AND_FINISHED}
      AND (c.next_attempt_at IS NULL OR c.next_attempt_at <= :now)
    RETURNING c.url, c.attempts, j.account_id, j.type, j.status, j.finished_at, j.error,
              a.callback_secret AS secret, a.callback_quiet_until AS quiet_until""")
_QUIET = text("UPDATE accounts SET callback_quiet_until = :until WHERE id = :account_id")
_DELIVERED = text("""
    UPDATE job_callbacks SET delivered_at = :now, next_attempt_at = NULL, last_status = :status, last_error = NULL
    WHERE job_id = :job_id""")
_FAILED = text("""
    UPDATE job_callbacks SET next_attempt_at = :next_attempt_at, given_up_at = :given_up_at,
                             last_status = :status, last_error = :error
    WHERE job_id = :job_id""")
# Due: a retry whose wait is over (or an attempt whose worker died: its lease ran out), or a first attempt
# whose task, sent when the job finished, has not claimed it within `unsent_after`. Not one the re-publisher
# sent a task for already, unless that was `resend_after` ago (the message was lost).
_DUE = text(f"""
    WITH due AS (
        SELECT c.job_id FROM job_callbacks AS c JOIN jobs AS j ON j.id = c.job_id
        WHERE {_OPEN_AND_FINISHED}
          AND (c.next_attempt_at <= :now OR (c.next_attempt_at IS NULL AND j.finished_at < :fresh_before))
          AND (c.published_at IS NULL OR c.published_at < :resend_before)
        ORDER BY c.next_attempt_at NULLS FIRST LIMIT :limit
        FOR UPDATE OF c SKIP LOCKED)
    UPDATE job_callbacks AS c SET published_at = :now FROM due WHERE c.job_id = due.job_id
    RETURNING c.job_id""").bindparams(bindparam("limit"))


def claim(db: Database, job_id: uuid.UUID, *, lease: timedelta) -> Delivery | None:
    """The next attempt at this job's callback, or None when none is due (delivered, given up, not yet
    finished, or another worker's attempt holds the lease). Commits, so the lease is seen at once."""
    now = utcnow()
    row = connection_of(db).execute(_CLAIM, {"job_id": job_id, "now": now, "lease_until": now + lease}).first()
    if row is None:
        db.commit()
        return None
    secret = row.secret or account_secret(db, row.account_id)
    db.commit()
    job = {
        "id": str(job_id),
        "type": row.type,
        "status": row.status,
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
        "error": row.error,
    }
    return Delivery(job_id, row.account_id, row.url, row.attempts, secret, notification(job, now), row.quiet_until)


def record(db: Database, delivery: Delivery, outcome: Outcome, *, hung: bool = False) -> None:
    """Delivered, or the next attempt scheduled, or given up after the last one. `hung`: the attempt was
    `left_hanging`, so the account's receiver is left alone for QUIET_SECONDS. The caller commits."""
    now = utcnow()
    if hung or (outcome.delivered and delivery.quiet_until is not None):
        until = now + timedelta(seconds=QUIET_SECONDS) if hung else None  # a delivery ends the quiet at once
        connection_of(db).execute(_QUIET, {"account_id": delivery.account_id, "until": until})
    if outcome.delivered:
        connection_of(db).execute(_DELIVERED, {"job_id": delivery.job_id, "now": now, "status": outcome.status})
        return
    last = outcome.final or delivery.attempt >= MAX_ATTEMPTS
    retry_at = None if last else now + timedelta(seconds=RETRY_AFTER_SECONDS[delivery.attempt - 1])
    connection_of(db).execute(
        _FAILED,
        {
            "job_id": delivery.job_id,
            "next_attempt_at": retry_at,
            "given_up_at": now if last else None,
            "status": outcome.status,
            "error": (outcome.error or "")[:500],
        },
    )


_RESEND = text(f"""
    UPDATE job_callbacks AS c SET attempts = 0, next_attempt_at = NULL, published_at = NULL, delivered_at = NULL,
                                  given_up_at = NULL, last_status = NULL, last_error = NULL
    FROM jobs AS j
    WHERE c.job_id = :job_id AND j.id = c.job_id AND j.status IN {_FINISHED}
    RETURNING c.job_id""")


def resend(db: Database, job_id: uuid.UUID) -> bool:
    """Start the callback of a finished job over, delivered or given up: a fresh attempt now and the whole
    retry schedule after it. False when the job has no callback or has not finished. The caller commits,
    then sends its task."""
    return connection_of(db).execute(_RESEND, {"job_id": job_id}).first() is not None


_NEVER = datetime.min.replace(tzinfo=UTC)  # no task was sent before this: "resend none"
_UNPUBLISHED = text("UPDATE job_callbacks SET published_at = NULL WHERE job_id = :job_id")


def due(db: Database, *, unsent_after: timedelta, resend_after: timedelta | None, limit: int = 200) -> list[uuid.UUID]:
    """Callbacks to send a task for now, marked sent (see `_DUE`); with `resend_after` None, only those no task
    was sent for yet. The caller commits, then publishes."""
    now = utcnow()
    return list(
        connection_of(db)
        .execute(
            _DUE,
            {
                "now": now,
                "fresh_before": now - unsent_after,
                "limit": limit,
                "resend_before": _NEVER if resend_after is None else now - resend_after,
            },
        )
        .scalars()
    )


def mark_unpublished(db: Database, job_id: uuid.UUID) -> None:
    """The broker refused the callback's task: the next round sends one. The caller commits."""
    connection_of(db).execute(_UNPUBLISHED, {"job_id": job_id})


_PENDING = text(f"SELECT count(*) FROM job_callbacks AS c JOIN jobs AS j ON j.id = c.job_id WHERE {_OPEN_AND_FINISHED}")
_GIVEN_UP = text("SELECT count(*) FROM job_callbacks WHERE given_up_at IS NOT NULL")  # ix_job_callbacks_given_up


def counts(db: Database) -> tuple[int, int]:
    """Callbacks of finished jobs being tried, and callbacks given up."""
    connection = connection_of(db)
    return connection.execute(_PENDING).scalar_one(), connection.execute(_GIVEN_UP).scalar_one()


def view(row: Any) -> dict[str, Any] | None:
    """What a job's view says of its callback, from a row with the `job_callbacks` columns (`attempts` as
    `callback_attempts`, apart from the job's own); None when the job has no callback."""
    if row is None or row.url is None:
        return None
    status = "delivered" if row.delivered_at else "failed" if row.given_up_at else "pending"
    return {
        "url": row.url,
        "status": status,
        "attempts": row.callback_attempts,
        "last_status": row.last_status,
        "last_error": row.last_error,
    }


def pending_view(url: str) -> dict[str, Any]:
    return {"url": url, "status": "pending", "attempts": 0, "last_status": None, "last_error": None}


_VIEW = text(
    "SELECT url, attempts AS callback_attempts, delivered_at, given_up_at, last_status, last_error "
    "FROM job_callbacks WHERE job_id = :job_id"
)


def view_of(db: Database, job_id: uuid.UUID) -> dict[str, Any] | None:
    return view(connection_of(db).execute(_VIEW, {"job_id": job_id}).first())
