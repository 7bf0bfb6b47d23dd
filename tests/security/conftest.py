"""Fixtures for the OWASP API Top 10 tests: apps with their own limits, signed-in users, staff, and a real SMTP
server (aiosmtpd) for the mail that password resets and invitations send."""

from __future__ import annotations

import re
import secrets
import uuid

import pytest
from aiosmtpd.controller import Controller

from smartcompute.accounts import services as accounts
from smartcompute.accounts.models import User
from tests.conftest import make_account
from tests.support import free_port

TOKEN = re.compile(r"^    ([A-Za-z0-9_-]{43})\r?$", re.M)  # a token as the mails show it, on a line of its own


@pytest.fixture
def make_app(base_env):
    """A fresh app with settings overridden, and rate-limit counters of its own."""
    from web import create_app

    def build(**overrides: str):
        prefix = f"{base_env['RATE_LIMIT_KEY_PREFIX']}:{uuid.uuid4().hex[:8]}"
        return create_app({**base_env, "RATE_LIMIT_KEY_PREFIX": prefix, **overrides})

    return build


def sign_in(client, account) -> dict:
    response = client.post("/v1/auth/token", json={"email": account.email, "password": account.password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def member(sessions):
    """make_account(sessions, role, account_of): a user of a given role, optionally in another's account."""
    return lambda role="owner", account_of=None: make_account(sessions, role=role, account_of=account_of)


@pytest.fixture(scope="module")
def staff_owner_headers(app, sessions) -> dict[str, str]:
    """A staff member who owns an account, signed in with a JWT: every operation is reachable (the fuzzers')."""
    owner = make_account(sessions)
    with sessions() as session:
        session.get(User, owner.user_id).is_staff = True
        session.commit()
    return bearer(sign_in(app.test_client(), owner)["access_token"])


@pytest.fixture
def staff(sessions):
    account = make_account(sessions)
    with sessions() as session:
        session.get(User, account.user_id).is_staff = True
        session.commit()
    return account


class Inbox:
    """The SMTP server's handler: every message it is given, by recipient."""

    def __init__(self):
        self.messages: list[tuple[str, str]] = []  # (recipient, text)

    async def handle_DATA(self, server, session, envelope):
        for recipient in envelope.rcpt_tos:
            self.messages.append((recipient, envelope.content.decode()))
        return "250 OK"

    def token_for(self, email: str) -> str:
        texts = [text for recipient, text in self.messages if recipient == email]
        return TOKEN.findall(texts[-1])[-1]


@pytest.fixture
def inbox():
    handler = Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
def mailing_app(make_app, inbox):
    return make_app(SMTP_URL=f"smtp://127.0.0.1:{inbox[1]}", MAIL_FROM="SmartCompute <no-reply@example.test>")


def new_user_password() -> str:
    return secrets.token_urlsafe(16)


__all__ = ["accounts", "bearer", "sign_in"]
