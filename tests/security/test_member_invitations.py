"""Adding members tells an owner nothing about other accounts (API3: excessive data exposure): an owner's
request is an invitation, answered alike whether or not the email has a user elsewhere, which the person accepts
with the token mailed to them (a real SMTP server here) or printed by an operator."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from smartcompute.accounts.models import Invitation, User
from smartcompute.db import utcnow
from tests.security.conftest import bearer, sign_in
from tests.support import wait_until

SMARTCOMPUTE = str(Path(sys.executable).with_name("smartcompute"))


@pytest.fixture
def mailing_client(mailing_app):
    return mailing_app.test_client()


def _shape(response) -> tuple:
    body = response.get_json()
    return response.status_code, sorted(body), body["role"], body["email"].split("@")[1]


def test_an_email_with_a_user_in_another_account_is_answered_like_any_other(client, sessions, account, other_account):
    """`POST /v1/account/members` answered 409 "a user with email ... already exists" for another account's
    user, so any owner could learn who uses the service."""
    owner = bearer(sign_in(client, account)["access_token"])
    elsewhere = client.post(
        "/v1/account/members", json={"email": other_account.email, "role": "analyst"}, headers=owner
    )
    nobody = client.post(
        "/v1/account/members", json={"email": f"new-{other_account.email}", "role": "analyst"}, headers=owner
    )
    assert elsewhere.status_code == nobody.status_code == 202
    assert _shape(elsewhere) == _shape(nobody)
    assert "already" not in elsewhere.get_data(as_text=True)
    with sessions() as session:  # nothing changed for the other account's user
        user = session.get(User, other_account.user_id)
        assert (user.account_id, user.is_active) == (other_account.account_id, True)
    listed = client.get("/v1/account/invitations", headers=owner).get_json()["items"]
    assert {item["email"] for item in listed} >= {other_account.email, f"new-{other_account.email}"}


def test_the_invitee_accepts_with_the_mailed_token_and_chooses_their_password(mailing_client, inbox, account):
    client, (mails, _) = mailing_client, inbox
    owner = bearer(sign_in(client, account)["access_token"])
    email = f"invitee-{account.email}"
    assert (
        client.post("/v1/account/members", json={"email": email, "role": "analyst"}, headers=owner).status_code == 202
    )
    wait_until(lambda: any(to == email for to, _ in mails.messages), 10, "the invitation mail")
    token = mails.token_for(email)
    joined = client.post("/v1/invitations/accept", json={"token": token, "password": "chosen-by-the-invitee"})
    assert joined.status_code == 201
    assert (joined.get_json()["role"], joined.get_json()["account_id"]) == ("analyst", str(account.account_id))
    again = client.post("/v1/invitations/accept", json={"token": token, "password": "chosen-by-the-invitee"})
    assert again.status_code == 400  # used once
    member = client.post("/v1/auth/token", json={"email": email, "password": "chosen-by-the-invitee"})
    assert member.status_code == 200
    assert client.get("/v1/account/invitations", headers=owner).get_json()["items"] == []
    actions = [event["action"] for event in client.get("/v1/account/audit-events", headers=owner).get_json()["items"]]
    assert {"member.invited", "member.added"} <= set(actions)


def test_only_the_token_holder_learns_the_email_is_taken(mailing_client, inbox, account, other_account):
    client, (mails, _) = mailing_client, inbox
    owner = bearer(sign_in(client, account)["access_token"])
    client.post("/v1/account/members", json={"email": other_account.email}, headers=owner)
    wait_until(lambda: any(to == other_account.email for to, _ in mails.messages), 10, "the invitation mail")
    taken = client.post(
        "/v1/invitations/accept",
        json={"token": mails.token_for(other_account.email), "password": "chosen-by-the-invitee"},
    )
    assert taken.status_code == 409 and "already has a SmartCompute user" in taken.get_json()["detail"]


def test_a_member_of_this_account_is_refused_and_revoked_or_expired_invitations_do_nothing(
    client, sessions, account, member
):
    colleague = member("viewer", account_of=account)
    owner = bearer(sign_in(client, account)["access_token"])
    assert client.post("/v1/account/members", json={"email": colleague.email}, headers=owner).status_code == 409
    revoked = client.post("/v1/account/members", json={"email": f"revoked-{account.email}"}, headers=owner).get_json()
    assert client.delete(f"/v1/account/invitations/{revoked['id']}", headers=owner).status_code == 204
    assert client.delete(f"/v1/account/invitations/{revoked['id']}", headers=owner).status_code == 404
    with sessions() as session:
        session.execute(
            update(Invitation)
            .where(Invitation.account_id == account.account_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    assert client.get("/v1/account/invitations", headers=owner).get_json()["items"] == []


def test_wrong_invitation_tokens_have_the_sign_in_limits(make_app):
    client = make_app(LOGIN_RATE_LIMIT_PER_ADDRESS="3/minute").test_client()
    guesses = [
        client.post(
            "/v1/invitations/accept",
            json={"token": f"guess-{index}", "password": "a-long-password"},
            environ_base={"REMOTE_ADDR": "203.0.113.88"},
        ).status_code
        for index in range(4)
    ]
    assert guesses == [400, 400, 400, 429]


def test_without_mail_an_operator_prints_an_invitation_token(client, base_env, account):
    env = {**os.environ, "DATABASE_URL": base_env["DATABASE_URL"]}
    email = f"by-cli-{account.email}"
    printed = subprocess.run(
        [SMARTCOMPUTE, "invitations", "issue", email, "--account-of", account.email, "--role", "analyst"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0, printed.stderr
    joined = client.post("/v1/invitations/accept", json={"token": printed.stdout.strip(), "password": "chosen-at-cli"})
    assert joined.status_code == 201 and joined.get_json()["email"] == email


@pytest.mark.parametrize(
    "email",
    [
        "victim@example.test\r\nBcc: everyone@example.test",
        "a b@example.test",
        "ops@example.test\u202e",
        "no-at-sign.example.test",
    ],
)
def test_an_invitation_to_an_address_that_could_forge_mail_headers_is_refused(client, account, email):
    owner = bearer(sign_in(client, account)["access_token"])
    response = client.post("/v1/account/members", json={"email": email}, headers=owner)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "email"
