"""Staff's admin API and CLI, owners' member management, and the audit log that records all of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from smartcompute.accounts.models import Account, User
from tests.security.conftest import bearer, sign_in

SMARTCOMPUTE = str(Path(sys.executable).with_name("smartcompute"))


def _actions(client, token, **query) -> list[str]:
    path = "/v1/admin/audit-events" if query.pop("staff", False) else "/v1/account/audit-events"
    response = client.get(path, headers=bearer(token), query_string=query)
    assert response.status_code == 200, response.get_json()
    return [event["action"] for event in response.get_json()["items"]]


def test_staff_search_disable_role_and_plan_changes_take_effect_and_are_audited(client, staff, account, member):
    analyst = member("analyst", account_of=account)
    token = sign_in(client, staff)["access_token"]
    found = client.get("/v1/admin/users", query_string={"q": analyst.email[:10]}, headers=bearer(token)).get_json()
    assert [user["email"] for user in found["items"]] == [analyst.email]
    accounts = client.get("/v1/admin/accounts", query_string={"q": account.email}, headers=bearer(token)).get_json()
    assert accounts["items"][0]["id"] == str(account.account_id) and accounts["items"][0]["members"] == 2
    assert (
        client.patch(f"/v1/admin/users/{analyst.user_id}", json={"is_active": False}, headers=bearer(token)).status_code
        == 200
    )
    assert client.get("/v1/jobs", headers=analyst.headers).status_code == 401
    assert (
        client.patch(
            f"/v1/admin/users/{analyst.user_id}", json={"is_active": True, "role": "viewer"}, headers=bearer(token)
        ).get_json()["role"]
        == "viewer"
    )
    assert (
        client.patch(
            f"/v1/admin/accounts/{account.account_id}", json={"plan": "pro"}, headers=bearer(token)
        ).get_json()["plan"]
        == "pro"
    )
    assert (
        client.patch(
            f"/v1/admin/accounts/{account.account_id}", json={"plan": "platinum"}, headers=bearer(token)
        ).status_code
        == 422
    )
    owner_view = _actions(client, sign_in(client, account)["access_token"])
    assert {"user.disabled", "user.enabled", "user.role_changed", "account.plan_changed"} <= set(owner_view)
    staff_view = _actions(client, token, staff=True, account_id=str(account.account_id))
    assert "account.plan_changed" in staff_view


def test_sign_ins_keys_and_members_are_audited_with_who_and_where(client, account):
    client.post(
        "/v1/auth/token",
        json={"email": account.email, "password": "wrong-password!"},
        environ_base={"REMOTE_ADDR": "198.51.100.23"},
    )
    token = sign_in(client, account)["access_token"]
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=bearer(token)).get_json()
    client.post(f"/v1/api-keys/{key['id']}/rotate", json={"grace_seconds": 0}, headers=bearer(token))
    client.delete(f"/v1/api-keys/{key['id']}", headers=bearer(token))
    client.post("/v1/account/members", json={"email": f"new-{account.email}", "role": "analyst"}, headers=bearer(token))
    events = client.get("/v1/account/audit-events", headers=bearer(token)).get_json()["items"]
    actions = [event["action"] for event in events]
    for action in (
        "auth.sign_in_failed",
        "auth.signed_in",
        "api_key.created",
        "api_key.rotated",
        "api_key.revoked",
        "member.invited",
    ):
        assert action in actions, action
    failed = next(event for event in events if event["action"] == "auth.sign_in_failed")
    assert failed["client_address"] == "198.51.100.23" and failed["actor"] == "anonymous"
    assert failed["details"] == {"submitted_email": account.email} and failed["target_id"] == str(account.user_id)
    created = next(event for event in events if event["action"] == "api_key.created")
    assert created["actor_user_id"] == str(account.user_id) and created["request_id"]


def test_the_audit_log_pages_with_a_cursor(client, account):
    token = sign_in(client, account)["access_token"]
    for _ in range(3):
        sign_in(client, account)
    first = client.get("/v1/account/audit-events?limit=2", headers=bearer(token)).get_json()
    second = client.get(
        f"/v1/account/audit-events?limit=2&cursor={first['next_cursor']}", headers=bearer(token)
    ).get_json()
    assert first["next_cursor"] and not {e["id"] for e in first["items"]} & {e["id"] for e in second["items"]}
    assert client.get("/v1/account/audit-events?cursor=garbage", headers=bearer(token)).status_code == 422


def test_operators_cli_disables_changes_roles_and_plans(base_env, sessions, account, member):
    analyst = member("analyst", account_of=account)
    env = {**os.environ, "DATABASE_URL": base_env["DATABASE_URL"]}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([SMARTCOMPUTE, *args], env=env, capture_output=True, text=True, timeout=60)

    assert cli("users", "disable", analyst.email).returncode == 0
    assert cli("users", "set-role", analyst.email, "viewer").returncode == 0
    assert cli("accounts", "set-plan", account.email, "enterprise").returncode == 0
    assert cli("users", "set-role", account.email, "viewer").returncode == 1  # the last owner stays
    listed = cli("users", "list", "--search", analyst.email)
    assert analyst.email in listed.stdout and "disabled" in listed.stdout
    assert str(account.account_id) in cli("accounts", "list", "--search", account.email).stdout
    with sessions() as session:
        user = session.get(User, analyst.user_id)
        assert (user.is_active, user.role) == (False, "viewer")
        assert session.get(Account, account.account_id).plan == "enterprise"


def test_a_failed_sign_in_cannot_choose_its_actor_and_what_it_sent_is_shown_escaped(client, staff):
    """The actor of a failed sign-in was the raw email submitted: `cli:root` and markup were recorded as actors."""
    claims = ["cli:root", "<script>alert(1)</script>@example.test", "ops@example.test\x1b[2J\u202e"]
    for claimed in claims:
        response = client.post("/v1/auth/token", json={"email": claimed, "password": "wrong-password!"})
        assert response.status_code == 401
    token = sign_in(client, staff)["access_token"]
    events = client.get(
        "/v1/admin/audit-events", query_string={"action": "auth.sign_in_failed", "limit": 100}, headers=bearer(token)
    ).get_json()["items"]
    shown = {event["details"]["submitted_email"]: event for event in events}
    assert shown["cli:root"]["actor"] == "anonymous" and shown["cli:root"]["actor_user_id"] is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@example.test" in shown
    assert "ops@example.test\\u001b[2J\\u202e" in shown  # a terminal escape and a right-to-left override
    assert not any(event["actor"] != "anonymous" for event in shown.values())
    assert not any("\x1b" in claimed or "<" in claimed for claimed in shown)
    assert "<script>" not in client.get(
        "/v1/admin/audit-events", query_string={"limit": 100}, headers=bearer(token)
    ).get_data(as_text=True)


def test_every_view_of_the_audit_log_escapes_stored_text(sessions, account):
    """Text that reached the log before it was escaped on the way in (or from a member's stored email) is
    escaped when shown."""
    from smartcompute.accounts import audit
    from smartcompute.accounts.models import AuditEvent

    with sessions() as session:
        audit.record(
            session,
            audit.Actor("<img src=x onerror=alert(1)>"),
            "test.escaped",
            account_id=account.account_id,
            details={"note": "\x07bell & <b>", "<k>": ["\u2066x"]},
        )
        session.commit()
        event = session.query(AuditEvent).filter_by(action="test.escaped", account_id=account.account_id).one()
        view = audit.event_view(event)
    assert view["actor"] == "&lt;img src=x onerror=alert(1)&gt;"
    assert view["details"] == {"note": "\\u0007bell &amp; &lt;b&gt;", "&lt;k&gt;": ["\\u2066x"]}
