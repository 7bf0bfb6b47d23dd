"""Fixtures for the OWASP API Top 10 tests: apps with their own limits, signed-in users, staff."""
from __future__ import annotations

import secrets
import uuid

import pytest

from smartcompute.accounts import services as accounts
from smartcompute.accounts.models import User
from tests.conftest import make_account


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


@pytest.fixture
def staff(sessions):
    account = make_account(sessions)
    with sessions() as session:
        session.get(User, account.user_id).is_staff = True
        session.commit()
    return account


def new_user_password() -> str:
    return secrets.token_urlsafe(16)


__all__ = ["accounts", "bearer", "sign_in"]
