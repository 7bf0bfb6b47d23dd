"""The admin API, for platform staff signed in with a JWT: accounts, users, roles, plans, the whole audit log."""
from __future__ import annotations

import uuid

from flask import Blueprint, request

from smartcompute.accounts import admin as accounts_admin
from smartcompute.accounts.schemas import AccountUpdate
from smartcompute.accounts.services import AccountError
from web.account import apply_user_update, audit_page
from web.auth import requires_staff
from web.bodies import read_json
from web.problems import Problem
from web.replies import actor, json_response, path_uuid, query_limit, query_text
from web.runtime import db, web_runtime

admin = Blueprint("admin", __name__, url_prefix="/v1/admin")


@admin.get("/accounts")
@requires_staff
def accounts():
    rows = accounts_admin.search_accounts(db(), query=query_text("q"), limit=query_limit())
    return json_response({"items": [accounts_admin.account_view(row, members) for row, members in rows]})


@admin.patch("/accounts/<account_id>")
@requires_staff
def update_account(account_id: str):
    body = read_json(AccountUpdate)
    session = db()
    try:
        row = accounts_admin.set_plan(session, actor(), path_uuid(account_id, "account"), body.plan,
                                      web_runtime().settings.PLANS)
    except accounts_admin.NotFound:
        raise Problem(404, "no such account", kind="not-found") from None
    except AccountError as error:
        raise Problem(422, str(error), kind="validation-error", errors=[{"field": "plan", "message": str(error)}]) from None
    session.commit()
    return json_response(accounts_admin.account_view(row))


def _account_filter() -> uuid.UUID | None:
    raw = request.args.get("account_id")
    if raw is None:
        return None
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise Problem(422, "account_id must be a UUID", kind="validation-error",
                      errors=[{"field": "account_id", "message": "must be a UUID"}]) from None


@admin.get("/users")
@requires_staff
def users():
    found = accounts_admin.search_users(db(), query=query_text("q"), account_id=_account_filter(), limit=query_limit())
    return json_response({"items": [accounts_admin.user_view(user) for user in found]})


@admin.patch("/users/<user_id>")
@requires_staff
def update_user(user_id: str):
    return apply_user_update(user_id, account_id=None, noun="user")


@admin.get("/audit-events")
@requires_staff
def audit_events():
    return json_response(audit_page(_account_filter()))
