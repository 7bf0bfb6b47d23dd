"""Request and response shapes of sign-in, API keys, members, audit and admin. Requests forbid unknown
fields, so no body can set a role, account, plan or credit it was not meant to (no mass assignment)."""

from __future__ import annotations

from datetime import datetime, UTC
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

Role = Literal["owner", "analyst", "viewer"]
Scope = Literal[
    "jobs:read",
    "jobs:write",
    "keys:read",
    "keys:write",
    "members:read",
    "members:write",
    "audit:read",
    "billing:read",
    "billing:write",
    "callbacks:write",
]
_REQUEST = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("must be a time from year 1 to 9999 in UTC") from None


# A moment a client names: with its offset (a naive time would be a guess), kept in UTC, as PostgreSQL stores
# it (it refuses offsets beyond 15:59, which Python and ISO-8601 allow).
Moment = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    refresh_expires_in: int


class RefreshRequest(BaseModel):
    model_config = _REQUEST
    refresh_token: str = Field(min_length=1, max_length=4096)


class LogoutRequest(BaseModel):
    """Optional: a refresh token to end its sign-in when no access token is at hand."""

    model_config = _REQUEST
    refresh_token: str | None = Field(default=None, min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")  # passwords are taken as typed, spaces included
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=12, max_length=1024)


class PasswordResetRequest(BaseModel):
    model_config = _REQUEST
    email: str = Field(min_length=3, max_length=320)


class PasswordResetConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=12, max_length=1024)


class Accepted(BaseModel):
    detail: str


class ApiKeyRequest(BaseModel):
    model_config = _REQUEST
    name: str = Field(min_length=1, max_length=200)
    scopes: list[Scope] = Field(default=["jobs:read", "jobs:write"], min_length=1, max_length=10, fail_fast=True)
    expires_at: Moment | None = None
    rate_limit: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description=(
            "the key's own request rate, such as 10/minute, below the plan's (which all the account's keys share)"
        ),
    )


class RotateRequest(BaseModel):
    model_config = _REQUEST
    grace_seconds: int = Field(default=3600, ge=0, le=31_536_000)


class ApiKey(BaseModel):
    id: str
    name: str
    prefix: str
    scopes: list[str]
    user_id: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    replaced_by: str | None
    rate_limit: str | None


class NewApiKey(ApiKey):
    key: str = Field(description="The key itself. It is shown once and cannot be recovered.")


class RotatedApiKey(BaseModel):
    old: ApiKey
    new: NewApiKey


class ApiKeyList(BaseModel):
    items: list[ApiKey]


class Usage(BaseModel):
    jobs_today: int
    jobs_in_flight: int


class PlanLimits(BaseModel):
    requests: str
    jobs_per_day: int
    concurrent_jobs: int
    points_per_job: int
    api_keys: int


class AccountInfo(BaseModel):
    id: str
    name: str
    plan: str
    created_at: datetime
    limits: PlanLimits
    usage: Usage
    role: Role
    scopes: list[str]


class Member(BaseModel):
    id: str
    account_id: str
    email: str
    role: Role
    is_active: bool
    is_staff: bool
    created_at: datetime


class MemberList(BaseModel):
    items: list[Member]


class MemberRequest(BaseModel):
    """An invitation for the person with this email to join with this role; they choose their own password."""

    model_config = _REQUEST
    email: str = Field(min_length=3, max_length=320)
    role: Role = "viewer"


class Invitation(BaseModel):
    id: str
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class InvitationList(BaseModel):
    items: list[Invitation]


class InvitationAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=12, max_length=1024)


class MemberUpdate(BaseModel):
    """What an owner (or staff) may change about a user; nothing else can be sent."""

    model_config = _REQUEST
    role: Role | None = None
    is_active: bool | None = None


class AccountSummary(BaseModel):
    id: str
    name: str
    plan: str
    created_at: datetime
    members: int


class AccountList(BaseModel):
    items: list[AccountSummary]


class AccountUpdate(BaseModel):
    model_config = _REQUEST
    plan: str = Field(min_length=1, max_length=40)


class AuditEvent(BaseModel):
    id: str
    occurred_at: datetime
    account_id: str | None
    actor: str
    actor_user_id: str | None
    actor_api_key_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    client_address: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditEventList(BaseModel):
    items: list[AuditEvent]
    next_cursor: str | None
