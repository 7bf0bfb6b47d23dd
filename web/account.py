"""The caller's account: plan, limits and usage; its members (owners manage them; web/invitations.py adds them);
its audit log; the secret that signs its jobs' callbacks."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from flask import Blueprint
from pydantic import BaseModel

from smartcompute.accounts import admin as accounts_admin, audit
from smartcompute.accounts.limits import usage
from smartcompute.accounts.models import Account
from smartcompute.accounts.schemas import AccountInfo, AuditEventList, Member, MemberList, MemberUpdate
from smartcompute.accounts.services import AccountError
from smartcompute.jobs import callbacks
from smartcompute.jobs.schemas import CallbackSecret
from web.access import scope
from web.auth import current_principal
from web.parameters import AuditFilters, PageSize, text
from web.problems import Problem
from web.replies import actor, path_uuid
from web.routes import Reply, operation
from web.runtime import db, web_runtime

account = Blueprint("account", __name__, url_prefix="/v1/account")
NOT_LEFT_WITHOUT_AN_OWNER = "Would leave no active owner"


class MemberSearch(BaseModel):
    limit: PageSize = 100
    q: text(320) = None  # type: ignore[valid-type]


@operation(
    account,
    "GET",
    "",
    "getAccount",
    "Your account: plan, limits, usage, your role",
    access=scope("jobs:read"),
    responses={200: Reply("The account", AccountInfo)},
)
def show() -> AccountInfo:
    principal, session = current_principal(), db()
    row = session.get(Account, principal.account_id)
    limits = web_runtime().settings.plan_limits(row.plan)
    used = usage(session, principal.account_id)
    return AccountInfo(
        **accounts_admin.account_view(row),
        limits=asdict(limits),
        usage={"jobs_today": used.jobs_today, "jobs_in_flight": used.jobs_in_flight},
        role=principal.role,
        scopes=list(principal.scopes),
    )


@operation(
    account,
    "GET",
    "/members",
    "listMembers",
    "The account's members (owners)",
    access=scope("members:read"),
    query=MemberSearch,
    responses={200: Reply("Members", MemberList)},
)
def members(query: MemberSearch) -> MemberList:
    users = accounts_admin.search_users(
        db(), account_id=current_principal().account_id, query=query.q, limit=query.limit
    )
    return MemberList(items=[accounts_admin.user_view(user) for user in users])


@operation(
    account,
    "PATCH",
    "/members/<user_id>",
    "updateMember",
    "Change a member's role or enable/disable them (owners)",
    access=scope("members:write"),
    body=MemberUpdate,
    path={"user_id": uuid.UUID},
    responses={200: Reply("The member", Member), 404: "No such member", 409: NOT_LEFT_WITHOUT_AN_OWNER},
)
def update_member(user_id: str, body: MemberUpdate) -> Member:
    return apply_user_update(user_id, body, account_id=current_principal().account_id, noun="member")


def apply_user_update(user_id: str, body: MemberUpdate, *, account_id, noun: str) -> Member:
    """Change a user's role or active flag; within one account for owners, any account for staff."""
    session = db()
    try:
        user = accounts_admin.find_user(session, path_uuid(user_id, noun), account_id=account_id)
        accounts_admin.update_user(session, actor(), user, role=body.role, is_active=body.is_active)
    except accounts_admin.NotFound:
        raise Problem(404, f"no such {noun}", kind="not-found") from None
    except AccountError as error:
        raise Problem(409, str(error), kind="conflict") from None
    session.commit()
    return Member(**accounts_admin.user_view(user))


@operation(
    account,
    "GET",
    "/callback-secret",
    "getCallbackSecret",
    "The secret that signs your jobs' callbacks (made on first use)",
    access=scope("jobs:write"),
    responses={200: Reply("The secret", CallbackSecret)},
)
def callback_secret() -> CallbackSecret:
    """Whoever may submit jobs with a callback_url may check their signatures."""
    session = db()
    secret = callbacks.account_secret(session, current_principal().account_id)
    session.commit()
    return _secret(secret)


@operation(
    account,
    "POST",
    "/callback-secret/rotate",
    "rotateCallbackSecret",
    "Replace the callback secret; callbacks are signed with the new one at once",
    access=scope("callbacks:write"),
    responses={200: Reply("The new secret", CallbackSecret)},
)
def rotate_callback_secret() -> CallbackSecret:
    """Owners only: every receiver of the account checks this secret."""
    principal, session = current_principal(), db()
    secret = callbacks.rotate_secret(session, principal.account_id)
    audit.record(
        session,
        actor(),
        "callback_secret.rotate",
        account_id=principal.account_id,
        target_type="account",
        target_id=principal.account_id,
    )
    session.commit()
    return _secret(secret)


def _secret(secret: str) -> CallbackSecret:
    return CallbackSecret(secret=secret, scheme="standard-webhooks", signature_version="v1")


@operation(
    account,
    "GET",
    "/audit-events",
    "listAuditEvents",
    "The account's audit log, newest first (owners)",
    access=scope("audit:read"),
    query=AuditFilters,
    responses={200: Reply("Events", AuditEventList)},
)
def audit_events(query: AuditFilters) -> AuditEventList:
    return audit_page(current_principal().account_id, query)


def audit_page(account_id: uuid.UUID | None, query: AuditFilters) -> AuditEventList:
    """One page of the audit log, for an account (owners) or for all (staff: account_id None)."""
    events, next_cursor = audit.list_events(
        db(), account_id=account_id, action=query.action, limit=query.limit, cursor=query.cursor
    )
    return AuditEventList(items=[audit.event_view(event) for event in events], next_cursor=next_cursor)
