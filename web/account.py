"""The caller's account: plan, limits and usage; its members (owners manage them; web/invitations.py adds them);
its audit log."""
from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, request

from smartcompute.accounts import admin as accounts_admin, audit
from smartcompute.accounts.limits import usage
from smartcompute.accounts.models import Account
from smartcompute.accounts.schemas import MemberUpdate
from smartcompute.accounts.services import AccountError
from smartcompute.jobs import callbacks
from web.auth import current_principal, requires
from web.bodies import read_json
from web.problems import Problem
from web.replies import actor, json_response, path_uuid, query_limit, query_text
from web.runtime import db, web_runtime

account = Blueprint("account", __name__, url_prefix="/v1/account")


@account.get("")
@requires("jobs:read")
def show():
    principal, session = current_principal(), db()
    row = session.get(Account, principal.account_id)
    settings = web_runtime().settings
    limits = settings.plan_limits(row.plan)
    used = usage(session, principal.account_id)
    return json_response({**accounts_admin.account_view(row), "limits": asdict(limits),
                          "usage": {"jobs_today": used.jobs_today, "jobs_in_flight": used.jobs_in_flight},
                          "role": principal.role, "scopes": list(principal.scopes)})


@account.get("/members")
@requires("members:read")
def members():
    users = accounts_admin.search_users(db(), account_id=current_principal().account_id,
                                        query=query_text("q"), limit=query_limit(100))
    return json_response({"items": [accounts_admin.user_view(user) for user in users]})


@account.patch("/members/<user_id>")
@requires("members:write")
def update_member(user_id: str):
    return apply_user_update(user_id, account_id=current_principal().account_id, noun="member")


def apply_user_update(user_id: str, *, account_id, noun: str):
    """Change a user's role or active flag; within one account for owners, any account for staff."""
    body = read_json(MemberUpdate)
    session = db()
    try:
        user = accounts_admin.find_user(session, path_uuid(user_id, noun), account_id=account_id)
        accounts_admin.update_user(session, actor(), user, role=body.role, is_active=body.is_active)
    except accounts_admin.NotFound:
        raise Problem(404, f"no such {noun}", kind="not-found") from None
    except AccountError as error:
        raise Problem(409, str(error), kind="conflict") from None
    session.commit()
    return json_response(accounts_admin.user_view(user))


@account.get("/callback-secret")
@requires("jobs:write")
def callback_secret():
    """Whoever may submit jobs with a callback_url may check their signatures."""
    session = db()
    secret = callbacks.account_secret(session, current_principal().account_id)
    session.commit()
    return _secret_response(secret)


@account.post("/callback-secret/rotate")
@requires("callbacks:write")  # every receiver of the account checks this secret: the owner's decision
def rotate_callback_secret():
    principal, session = current_principal(), db()
    secret = callbacks.rotate_secret(session, principal.account_id)
    audit.record(session, actor(), "callback_secret.rotate", account_id=principal.account_id,
                 target_type="account", target_id=principal.account_id)
    session.commit()
    return _secret_response(secret)


def _secret_response(secret: str):
    return json_response({"secret": secret, "scheme": "standard-webhooks", "signature_version": "v1"},
                         headers={"Cache-Control": "no-store"})


@account.get("/audit-events")
@requires("audit:read")
def audit_events():
    return json_response(audit_page(current_principal().account_id))


def audit_page(account_id) -> dict:
    """One page of the audit log, for an account (owners) or for all (staff: account_id None)."""
    events, next_cursor = audit.list_events(db(), account_id=account_id, action=query_text("action", 60),
                                            limit=query_limit(), cursor=request.args.get("cursor"))
    return {"items": [audit.event_view(event) for event in events], "next_cursor": next_cursor}
