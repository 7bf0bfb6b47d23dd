"""API2 Broken Authentication, continued: disabling a member ends their keys for good, passwords can be changed
(the current one required) and reset (a single-use, short-lived token mailed through a real SMTP server, or
printed by the operator's CLI), with the sign-in limits on each."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

from smartcompute.accounts.models import PasswordReset
from smartcompute.db import utcnow
from tests.security.conftest import bearer, sign_in
from tests.support import wait_until

SMARTCOMPUTE = str(Path(sys.executable).with_name("smartcompute"))


def test_disabling_a_member_revokes_their_keys_for_good(client, account, member):
    """Disabling left a member's API keys alive, and enabling them again revived them."""
    analyst = member("analyst", account_of=account)
    analyst_tokens = sign_in(client, analyst)
    owner = bearer(sign_in(client, account)["access_token"])
    assert (
        client.patch(f"/v1/account/members/{analyst.user_id}", json={"is_active": False}, headers=owner).status_code
        == 200
    )
    assert (
        client.patch(f"/v1/account/members/{analyst.user_id}", json={"is_active": True}, headers=owner).status_code
        == 200
    )
    assert client.get("/v1/jobs", headers=analyst.headers).status_code == 401  # the key stays revoked
    assert client.get("/v1/jobs", headers=bearer(analyst_tokens["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": analyst_tokens["refresh_token"]}).status_code == 401
    keys = client.get("/v1/api-keys", headers=owner).get_json()["items"]
    assert all(key["revoked_at"] for key in keys if key["user_id"] == str(analyst.user_id))
    events = client.get("/v1/account/audit-events?action=user.disabled", headers=owner).get_json()["items"]
    assert events[0]["details"]["api_keys_revoked"] == 1 and events[0]["details"]["sessions_revoked"] == 1
    assert client.get("/v1/jobs", headers=bearer(sign_in(client, analyst)["access_token"])).status_code == 200


def test_a_password_change_needs_the_current_one_and_ends_every_other_sign_in(client, account):
    here, elsewhere = sign_in(client, account), sign_in(client, account)
    wrong = client.post(
        "/v1/auth/password",
        headers=bearer(here["access_token"]),
        json={"current_password": "not-the-password", "new_password": "a-new-long-password"},
    )
    assert wrong.status_code == 403 and wrong.get_json()["type"] == "/problems/wrong-password"
    weak = client.post(
        "/v1/auth/password",
        headers=bearer(here["access_token"]),
        json={"current_password": account.password, "new_password": "short"},
    )
    assert weak.status_code == 422
    changed = client.post(
        "/v1/auth/password",
        headers=bearer(here["access_token"]),
        json={"current_password": account.password, "new_password": "a-new-long-password"},
    )
    assert changed.status_code == 204
    assert client.get("/v1/jobs", headers=bearer(here["access_token"])).status_code == 200  # this sign-in goes on
    assert client.get("/v1/jobs", headers=bearer(elsewhere["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": elsewhere["refresh_token"]}).status_code == 401
    assert client.post("/v1/auth/token", json={"email": account.email, "password": account.password}).status_code == 401
    assert (
        client.post("/v1/auth/token", json={"email": account.email, "password": "a-new-long-password"}).status_code
        == 200
    )
    assert client.get("/v1/jobs", headers=account.headers).status_code == 200  # API keys are not sign-ins


def test_an_api_key_cannot_change_the_password(client, account):
    response = client.post(
        "/v1/auth/password",
        headers=account.headers,
        json={"current_password": account.password, "new_password": "a-new-long-password"},
    )
    assert response.status_code == 403


def test_wrong_current_passwords_share_the_sign_in_limits(make_app, account):
    client = make_app(LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS="2/minute").test_client()
    token = bearer(sign_in(client, account)["access_token"])
    attempts = [
        client.post(
            "/v1/auth/password",
            headers=token,
            json={"current_password": "guess-number-x", "new_password": "a-new-long-password"},
        ).status_code
        for _ in range(3)
    ]
    assert attempts == [403, 403, 429]
    assert client.post("/v1/auth/token", json={"email": account.email, "password": account.password}).status_code == 429


def test_a_reset_token_is_mailed_works_once_and_ends_every_sign_in(mailing_app, inbox, account):
    client, (mails, _) = mailing_app.test_client(), inbox
    signed_in = sign_in(client, account)
    asked = client.post("/v1/auth/password-reset", json={"email": account.email.upper()})
    unknown = client.post("/v1/auth/password-reset", json={"email": "nobody-here@example.test"})
    assert asked.status_code == unknown.status_code == 202 and asked.get_json() == unknown.get_json()
    wait_until(lambda: any(to == account.email for to, _ in mails.messages), 10, "the reset mail")
    assert [to for to, _ in mails.messages] == [account.email]  # nothing for an email that is no user's
    token = mails.token_for(account.email)
    confirm = {"token": token, "new_password": "reset-to-something-long"}
    assert client.post("/v1/auth/password-reset/confirm", json=confirm).status_code == 204
    assert client.post("/v1/auth/password-reset/confirm", json=confirm).status_code == 400  # used once
    assert client.get("/v1/jobs", headers=bearer(signed_in["access_token"])).status_code == 401
    owner = bearer(sign_in(client, replace(account, password="reset-to-something-long"))["access_token"])
    actions = [event["action"] for event in client.get("/v1/account/audit-events", headers=owner).get_json()["items"]]
    assert {"auth.password_reset_requested", "auth.password_reset"} <= set(actions)


def test_an_expired_or_superseded_reset_token_does_nothing(mailing_app, inbox, sessions, account):
    client, (mails, _) = mailing_app.test_client(), inbox
    client.post("/v1/auth/password-reset", json={"email": account.email})
    wait_until(lambda: mails.messages, 10, "the first mail")
    first = mails.token_for(account.email)
    client.post("/v1/auth/password-reset", json={"email": account.email})
    wait_until(lambda: len(mails.messages) == 2, 10, "the second mail")
    second = mails.token_for(account.email)
    body = {"new_password": "reset-to-something-long"}
    assert client.post("/v1/auth/password-reset/confirm", json={**body, "token": first}).status_code == 400
    with sessions() as session:  # the second one's time runs out
        session.execute(
            update(PasswordReset)
            .where(PasswordReset.user_id == account.user_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert client.post("/v1/auth/password-reset/confirm", json={**body, "token": second}).status_code == 400
    assert client.post("/v1/auth/token", json={"email": account.email, "password": account.password}).status_code == 200


def test_reset_requests_and_wrong_tokens_have_the_sign_in_limits(make_app, inbox, account):
    client = make_app(
        SMTP_URL=f"smtp://127.0.0.1:{inbox[1]}",
        MAIL_FROM="no-reply@example.test",
        LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS="2/minute",
        LOGIN_RATE_LIMIT_PER_ADDRESS="3/minute",
    ).test_client()
    requests = [client.post("/v1/auth/password-reset", json={"email": account.email}).status_code for _ in range(3)]
    assert requests == [202, 202, 429]  # no mailbox is flooded from one address
    guesses = [
        client.post(
            "/v1/auth/password-reset/confirm",
            environ_base={"REMOTE_ADDR": "203.0.113.77"},
            json={"token": f"guess-{index}", "new_password": "reset-to-something-long"},
        ).status_code
        for index in range(4)
    ]
    assert guesses == [400, 400, 400, 429]


def test_without_mail_the_operators_cli_prints_a_reset_token(client, base_env, account):
    env = {**os.environ, "DATABASE_URL": base_env["DATABASE_URL"]}
    printed = subprocess.run(
        [SMARTCOMPUTE, "users", "reset-password", account.email, "--minutes", "5"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    token = printed.stdout.strip()
    assert len(token) == 43
    assert (
        client.post(
            "/v1/auth/password-reset/confirm", json={"token": token, "new_password": "set-by-the-cli-token"}
        ).status_code
        == 204
    )
    unknown = subprocess.run(
        [SMARTCOMPUTE, "users", "reset-password", "nobody-here@example.test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        unknown.returncode == 1
        and unknown.stderr.strip() == "Error: no active user with email nobody-here@example.test"
    )
