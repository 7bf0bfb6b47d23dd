"""Credentials: API keys and JWTs from /v1/auth/token, and the attacks they must withstand."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import timedelta

import jwt as pyjwt
import pytest

from smartcompute.accounts import services as accounts
from smartcompute.accounts.models import User
from web.auth import issue_access_token


def token_for(client, account) -> str:
    response = client.post("/v1/auth/token", json={"email": account.email, "password": account.password})
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0
    return body["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_jwt_from_email_and_password_reads_the_accounts_jobs(client, account):
    response = client.get("/v1/jobs", headers=bearer(token_for(client, account)))
    assert response.status_code == 200


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, account):
    wrong = client.post("/v1/auth/token", json={"email": account.email, "password": "not-the-password"})
    unknown = client.post("/v1/auth/token", json={"email": "nobody@example.test", "password": "not-the-password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json()["detail"] == unknown.get_json()["detail"]


def test_an_unsigned_alg_none_token_is_rejected(client, account):
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).rstrip(b"=")
    claims = base64.urlsafe_b64encode(json.dumps({"sub": str(account.user_id), "type": "access"}).encode()).rstrip(b"=")
    forged = (header + b"." + claims + b".").decode()
    assert client.get("/v1/jobs", headers=bearer(forged)).status_code == 401


def test_a_token_signed_with_another_key_is_rejected(client, account):
    forged = pyjwt.encode({"sub": str(account.user_id), "type": "access"}, "x" * 32, algorithm="HS256")
    assert client.get("/v1/jobs", headers=bearer(forged)).status_code == 401


def test_an_expired_token_is_rejected(app, client, account):
    session_id = pyjwt.decode(token_for(client, account), options={"verify_signature": False})["sid"]
    with app.app_context():
        expired = issue_access_token(account.user_id, session_id, lifetime=timedelta(seconds=-1))
    assert client.get("/v1/jobs", headers=bearer(expired)).status_code == 401


def test_disabling_a_user_takes_effect_on_the_next_request(client, sessions, account):
    token = token_for(client, account)
    with sessions() as session:
        session.get(User, account.user_id).is_active = False
        session.commit()
    assert client.get("/v1/jobs", headers=bearer(token)).status_code == 401
    assert client.get("/v1/jobs", headers=account.headers).status_code == 401


def test_a_revoked_api_key_is_rejected(client, sessions, account):
    with sessions() as session:
        key = session.query(accounts.ApiKey).filter_by(user_id=account.user_id).one()
        key.revoked_at = accounts.utcnow()
        session.commit()
    assert client.get("/v1/jobs", headers=account.headers).status_code == 401


def test_api_keys_carry_a_prefix_and_checksum_and_are_stored_hashed(sessions, account):
    assert account.api_key.startswith("sck_")
    assert accounts.api_key_is_well_formed(account.api_key)
    assert not accounts.api_key_is_well_formed(account.api_key[:-1] + ("A" if account.api_key[-1] != "A" else "B"))
    with sessions() as session:
        stored = session.query(accounts.ApiKey).filter_by(user_id=account.user_id).one()
    assert account.api_key.encode() not in stored.key_hash and stored.prefix == account.api_key[:12]


def test_a_viewer_can_read_but_not_submit(client, sessions):
    from tests.conftest import make_account
    from tests.support import job_body

    viewer = make_account(sessions, role="viewer")
    token = token_for(client, viewer)
    assert client.get("/v1/jobs", headers=bearer(token)).status_code == 200
    assert client.post("/v1/jobs", json=job_body(), headers=bearer(token)).status_code == 403


@pytest.mark.parametrize(
    "key, warned", [("j" * 20, True), (secrets.token_urlsafe(32), False)], ids=["20-bytes", "43-bytes"]
)
def test_the_api_warns_at_start_when_the_jwt_key_is_shorter_than_its_hash(settings, capsys, key, warned):
    """16 characters are accepted, as always; RFC 7518 asks for 32 bytes for HS256, and the operator is told."""

    from web import create_app

    create_app(settings.model_copy(update={"JWT_SECRET_KEY": key}))
    assert ("JWT_SECRET_KEY is shorter than 32 bytes" in capsys.readouterr().err) == warned
