"""Users, passwords and API keys: creating them and turning a credential into a principal."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import unicodedata
import uuid
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    ARRAY,
    Boolean,
    DateTime,
    LargeBinary,
    String,
    TextualSelect,
    Uuid,
    bindparam,
    column,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeEngine

from smartcompute.accounts.models import ROLES, Account, ApiKey, User
from smartcompute.accounts.schemas import Scope
from smartcompute.db import Database, connection_of, utcnow

API_KEY_PREFIX = "sck_"
_ALPHABET = string.ascii_letters + string.digits
_SECRET_LENGTH = 32
_CHECKSUM_LENGTH = 6
DEFAULT_SCOPES = ("jobs:read", "jobs:write")
# What each role may do. A key's scopes are cut down to its user's role on every request, so demoting a
# user narrows their keys at once. Credits are the account's money, so only owners see or buy them; the
# callback secret is the whole account's, so only owners replace it (callbacks:write).
ROLE_SCOPES = {
    "owner": get_args(Scope),
    "analyst": ("jobs:read", "jobs:write", "keys:read", "keys:write"),
    "viewer": ("jobs:read",),
}
# Writing last_used_at on every request would turn each read into a write; a minute is precise enough.
_LAST_USED_RESOLUTION = timedelta(minutes=1)

_password_hasher = PasswordHasher()
# Verifying against a real hash when the email is unknown keeps both answers equally slow.
_UNKNOWN_USER_HASH = _password_hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about users or keys that cannot be done; the message says why, and `field` what it is about."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Principal:
    """Who is calling: the ids every authorization decision needs."""

    user_id: uuid.UUID
    account_id: uuid.UUID
    role: str
    scopes: tuple[str, ...]
    api_key_id: uuid.UUID | None = None
    plan: str = "free"
    is_staff: bool = False
    email: str = ""
    session_id: uuid.UUID | None = None  # the sign-in a JWT belongs to
    key_rate_limit: str | None = None  # an API key's own request rate, below its account's plan

    def can(self, scope: str) -> bool:
        return scope in self.scopes


def _base62(number: int, width: int) -> str:
    digits = []
    for _ in range(width):
        number, remainder = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


def api_key_is_well_formed(key: str) -> bool:
    """Prefix and CRC32 checksum let scanners (and we) spot a real key without a database."""
    if not key.startswith(API_KEY_PREFIX) or len(key) != len(API_KEY_PREFIX) + _SECRET_LENGTH + _CHECKSUM_LENGTH:
        return False
    body, checksum = key[:-_CHECKSUM_LENGTH], key[-_CHECKSUM_LENGTH:]
    return hmac.compare_digest(_checksum(body), checksum)


def _hash_key(key: str) -> bytes:
    # Keys carry 190 bits of randomness, so a fast hash is safe; a KDF would only slow every request.
    return hashlib.sha256(key.encode()).digest()


MIN_PASSWORD_LENGTH = 12


def hash_password(password: str) -> str:
    """Argon2id, after checking the password is long enough (AccountError otherwise)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must be at least {MIN_PASSWORD_LENGTH} characters", field="password")
    return _password_hasher.hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Checked against a real hash when there is none, so both answers take the same time."""
    try:
        return _password_hasher.verify(password_hash or _UNKNOWN_USER_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def normalise_email(email: str) -> str:
    """Lower case, trimmed; no whitespace or control characters inside (an address is put in mail headers)."""
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if (
        not local
        or "." not in domain
        or len(email) > 320
        or any(character.isspace() or unicodedata.category(character) in ("Cc", "Cf") for character in email)
    ):
        raise AccountError(f"{email[:320]!r} is not an email address")
    return email


def create_user(
    session: Session,
    email: str,
    *,
    password: str | None = None,
    role: str = "owner",
    account_id: uuid.UUID | None = None,
    account_name: str | None = None,
    plan: str = "free",
) -> uuid.UUID:
    """Create a user, in a new account of their own unless one is given."""
    email = normalise_email(email)
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}")
    password_hash = hash_password(password) if password is not None else None
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"a user with email {email} already exists")
    if account_id is None:
        account = Account(name=account_name or email, plan=plan)
        session.add(account)
        session.flush()
        account_id = account.id
    user = User(email=email, account_id=account_id, role=role, password_hash=password_hash)
    session.add(user)
    session.flush()
    return user.id


def create_api_key(
    session: Session,
    user_id: uuid.UUID,
    *,
    name: str = "default",
    scopes: tuple[str, ...] = DEFAULT_SCOPES,
    expires_at: datetime | None = None,
    rate_limit: str | None = None,
) -> tuple[uuid.UUID, str]:
    """Returns the key's id and the key itself, which is never stored and cannot be shown again."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise AccountError("no such active user")
    body = API_KEY_PREFIX + "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LENGTH))
    key = body + _checksum(body)
    api_key = ApiKey(
        user_id=user.id,
        account_id=user.account_id,
        name=name,
        prefix=key[:12],
        key_hash=_hash_key(key),
        scopes=list(scopes),
        expires_at=expires_at,
        rate_limit=rate_limit,
    )
    session.add(api_key)
    session.flush()
    return api_key.id, key


def find_user_id(session: Session, email: str) -> uuid.UUID:
    user_id = session.scalar(select(User.id).where(User.email == normalise_email(email)))
    if user_id is None:
        raise AccountError(f"no user with email {email}")
    return user_id


def _role_scopes(role: str, granted: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    allowed = ROLE_SCOPES.get(role, ())
    return tuple(scope for scope in granted if scope in allowed)


# Built once: these run on every request, and constructing a select costs more than executing it.
# Functions from migration 0005 (PostgreSQL keeps their plans). The columns are named in the SELECT and given
# in the same order, so SQLAlchemy matches them by position once and caches that; matched by name, the
# result's metadata was rebuilt on every request (~4% of a job submission's CPU).
_PRINCIPAL_COLUMNS = (
    ("account_id", Uuid()),
    ("role", String()),
    ("is_active", Boolean()),
    ("is_staff", Boolean()),
    ("email", String()),
    ("plan", String()),
)
_API_KEY_COLUMNS = (
    ("id", Uuid()),
    ("user_id", Uuid()),
    *_PRINCIPAL_COLUMNS,
    ("key_hash", LargeBinary()),
    ("scopes", ARRAY(String())),
    ("expires_at", DateTime(timezone=True)),
    ("revoked_at", DateTime(timezone=True)),
    ("last_used_at", DateTime(timezone=True)),
    ("rate_limit", String()),
)
_SIGNED_IN_USER_COLUMNS = (("id", Uuid()), *_PRINCIPAL_COLUMNS)


def _function_query(call: str, columns: tuple[tuple[str, TypeEngine[Any]], ...]) -> TextualSelect:
    names = ", ".join(name for name, _ in columns)
    return text(f"SELECT {names} FROM {call}").columns(*(column(name, type_) for name, type_ in columns))


_API_KEY_QUERY = _function_query("api_key_principal(:key_hash)", _API_KEY_COLUMNS)
_SIGNED_IN_USER_QUERY = _function_query("signed_in_principal(:user_id, :session_id, :now)", _SIGNED_IN_USER_COLUMNS)
_USER_QUERY = (
    select(User.id, User.account_id, User.role, User.is_active, User.is_staff, User.email, Account.plan)
    .join(Account, Account.id == User.account_id)
    .where(User.id == bindparam("user_id"))
)


def authenticate_api_key(db: Database, key: str) -> Principal | None:
    if not api_key_is_well_formed(key):
        return None
    key_hash = _hash_key(key)
    row = connection_of(db).execute(_API_KEY_QUERY, {"key_hash": key_hash}).first()
    if row is None or not hmac.compare_digest(row.key_hash, key_hash):
        return None
    now = utcnow()
    if not row.is_active or row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
        return None
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_RESOLUTION:
        connection_of(db).execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        db.commit()
    return Principal(
        row.user_id,
        row.account_id,
        row.role,
        _role_scopes(row.role, row.scopes),
        row.id,
        plan=row.plan,
        is_staff=row.is_staff,
        email=row.email,
        key_rate_limit=row.rate_limit,
    )


def authenticate_password(session: Session, email: str, password: str) -> uuid.UUID | None:
    """The user's id if the password is right; the same work is done whether or not the email exists."""
    try:
        email = normalise_email(email)
    except AccountError:
        email = ""
    user = session.scalar(select(User).where(User.email == email)) if email else None
    if not password_matches(user.password_hash if user else None, password) or user is None:
        return None
    return user.id if user.is_active else None


def principal_for_user(db: Database, user_id: uuid.UUID, session_id: uuid.UUID | None = None) -> Principal | None:
    """A signed-in user, re-read on every request so that disabling them, a new role or a logout take effect
    at once. With `session_id`, the sign-in must also be live (not logged out, not revoked, not expired)."""
    if session_id is None:
        row = connection_of(db).execute(_USER_QUERY, {"user_id": user_id}).first()
    else:
        row = (
            connection_of(db)
            .execute(_SIGNED_IN_USER_QUERY, {"user_id": user_id, "session_id": session_id, "now": utcnow()})
            .first()
        )
    if row is None or not row.is_active:
        return None
    return Principal(
        row.id,
        row.account_id,
        row.role,
        ROLE_SCOPES[row.role],
        plan=row.plan,
        is_staff=row.is_staff,
        email=row.email,
        session_id=session_id,
    )
