"""The admin API, for platform staff signed in with a JWT: accounts, users, roles, plans, the whole audit log."""

from __future__ import annotations

import uuid

from flask import Blueprint

from smartcompute.accounts import admin as accounts_admin
from smartcompute.accounts.schemas import (
    AccountList,
    AccountSummary,
    AccountUpdate,
    AuditEventList,
    Member,
    MemberList,
    MemberUpdate,
)
from smartcompute.accounts.services import AccountError
from web.access import STAFF
from web.account import NOT_LEFT_WITHOUT_AN_OWNER, apply_user_update, audit_page
from web.parameters import AccountFilter, AuditFilters, Search
from web.problems import Problem
from web.replies import actor, path_uuid
from web.routes import Reply, operation
from web.runtime import db, web_runtime

admin = Blueprint("admin", __name__, url_prefix="/v1/admin")


class UserSearch(Search, AccountFilter):
    pass


class AuditEventFilters(AuditFilters, AccountFilter):
    pass


@operation(
    admin,
    "GET",
    "/accounts",
    "adminListAccounts",
    "Search accounts (staff)",
    access=STAFF,
    query=Search,
    responses={200: Reply("Accounts", AccountList)},
)
def accounts(query: Search) -> AccountList:
    rows = accounts_admin.search_accounts(db(), query=query.q, limit=query.limit)
    return AccountList(items=[accounts_admin.account_view(row, members) for row, members in rows])


@operation(
    admin,
    "PATCH",
    "/accounts/<account_id>",
    "adminUpdateAccount",
    "Change an account's plan (staff)",
    access=STAFF,
    body=AccountUpdate,
    path={"account_id": uuid.UUID},
    responses={200: Reply("The account", AccountSummary), 404: "No such account"},
)
def update_account(account_id: str, body: AccountUpdate) -> AccountSummary:
    session = db()
    try:
        row = accounts_admin.set_plan(
            session, actor(), path_uuid(account_id, "account"), body.plan, web_runtime().settings.PLANS
        )
    except accounts_admin.NotFound:
        raise Problem(404, "no such account", kind="not-found") from None
    except AccountError as error:
        raise Problem(
            422, str(error), kind="validation-error", errors=[{"field": "plan", "message": str(error)}]
        ) from None
    session.commit()
    return AccountSummary(**accounts_admin.account_view(row, accounts_admin.member_count(session, row.id)))


@operation(
    admin,
    "GET",
    "/users",
    "adminListUsers",
    "Search users (staff)",
    access=STAFF,
    query=UserSearch,
    responses={200: Reply("Users", MemberList)},
)
def users(query: UserSearch) -> MemberList:
    found = accounts_admin.search_users(db(), query=query.q, account_id=query.account_id, limit=query.limit)
    return MemberList(items=[accounts_admin.user_view(user) for user in found])


@operation(
    admin,
    "PATCH",
    "/users/<user_id>",
    "adminUpdateUser",
    "Disable/enable a user or change their role (staff)",
    access=STAFF,
    body=MemberUpdate,
    path={"user_id": uuid.UUID},
    responses={200: Reply("The user", Member), 404: "No such user", 409: NOT_LEFT_WITHOUT_AN_OWNER},
)
def update_user(user_id: str, body: MemberUpdate) -> Member:
    return apply_user_update(user_id, body, account_id=None, noun="user")


@operation(
    admin,
    "GET",
    "/audit-events",
    "adminListAuditEvents",
    "The whole audit log (staff)",
    access=STAFF,
    query=AuditEventFilters,
    responses={200: Reply("Events", AuditEventList)},
)
def audit_events(query: AuditEventFilters) -> AuditEventList:
    return audit_page(query.account_id, query)
