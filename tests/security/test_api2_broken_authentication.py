"""API2 Broken Authentication: forged, expired, revoked, rotated and replayed credentials all fail."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from datetime import timedelta

import jwt as pyjwt

from smartcompute.accounts.models import ApiKey, AuthSession, User
from smartcompute.db import utcnow
from tests.security.conftest import bearer, sign_in
from web.auth import issue_access_token, issue_refresh_token


def _b64(data: dict) -> bytes:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=")


def test_alg_none_tokens_are_rejected(client, account):
    tokens = sign_in(client, account)
    claims = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    for alg in ("none", "None", "NONE"):
        forged = (_b64({"alg": alg, "typ": "JWT"}) + b"." + _b64(claims) + b".").decode()
        assert client.get("/v1/jobs", headers=bearer(forged)).status_code == 401


def test_a_token_signed_with_a_wrong_key_or_algorithm_is_rejected(client, account):
    claims = pyjwt.decode(sign_in(client, account)["access_token"], options={"verify_signature": False})
    for key, algorithm in (("x" * 32, "HS256"), ("x" * 64, "HS512")):
        forged = pyjwt.encode(claims, key, algorithm=algorithm)
        assert client.get("/v1/jobs", headers=bearer(forged)).status_code == 401


def test_an_expired_access_token_is_rejected(app, client, account):
    session_id = pyjwt.decode(sign_in(client, account)["access_token"], options={"verify_signature": False})["sid"]
    with app.app_context():
        expired = issue_access_token(account.user_id, session_id, lifetime=timedelta(seconds=-1))
    assert client.get("/v1/jobs", headers=bearer(expired)).status_code == 401


def test_an_access_token_without_a_sign_in_session_is_rejected(client, settings, account):
    now = int(time.time())
    sessionless = pyjwt.encode(
        {"sub": str(account.user_id), "type": "access", "iat": now, "exp": now + 600},
        settings.JWT_SECRET_KEY,
        algorithm="HS256",
    )
    assert client.get("/v1/jobs", headers=bearer(sessionless)).status_code == 401


def test_a_refresh_token_is_not_an_access_token_and_vice_versa(client, account):
    tokens = sign_in(client, account)
    assert client.get("/v1/jobs", headers=bearer(tokens["refresh_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}).status_code == 401


def test_logout_revokes_the_access_and_refresh_tokens_at_once(client, account):
    tokens = sign_in(client, account)
    assert client.post("/v1/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
    assert client.get("/v1/jobs", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_whole_chain(client, sessions, account):
    first = sign_in(client, account)
    second = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}).get_json()
    assert second["refresh_token"] != first["refresh_token"]
    assert client.get("/v1/jobs", headers=bearer(second["access_token"])).status_code == 200
    replay = client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.get_json()["type"] == "/problems/refresh-token-reused"
    # The thief's replay ended the sign-in: the legitimate newer tokens die with it.
    assert client.get("/v1/jobs", headers=bearer(second["access_token"])).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}).status_code == 401
    with sessions() as session:
        reasons = {row.revoked_reason for row in session.query(AuthSession).filter_by(user_id=account.user_id)}
    assert "refresh-token-reused" in reasons


def test_a_forged_refresh_token_for_an_unknown_jti_is_rejected(app, client, account):
    claims = pyjwt.decode(sign_in(client, account)["refresh_token"], options={"verify_signature": False})
    with app.app_context():
        forged = issue_refresh_token(account.user_id, claims["sid"], uuid.uuid4(), timedelta(days=1))
    assert client.post("/v1/auth/refresh", json={"refresh_token": forged}).status_code == 401


def test_disabling_a_user_ends_their_sign_ins_and_keys(client, sessions, account):
    tokens = sign_in(client, account)
    with sessions() as session:
        session.get(User, account.user_id).is_active = False
        session.commit()
    assert client.get("/v1/jobs", headers=bearer(tokens["access_token"])).status_code == 401
    assert client.get("/v1/jobs", headers=account.headers).status_code == 401
    assert client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code == 401


def test_a_role_change_takes_effect_on_the_next_request(client, sessions, account):
    tokens = sign_in(client, account)
    with sessions() as session:
        session.get(User, account.user_id).role = "viewer"
        session.commit()
    from tests.support import job_body

    assert client.post("/v1/jobs", json=job_body(points=10), headers=bearer(tokens["access_token"])).status_code == 403
    assert client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).status_code == 403


def test_wrong_checksum_revoked_and_expired_api_keys_are_rejected(client, sessions, account):
    tampered = account.api_key[:-1] + ("A" if account.api_key[-1] != "A" else "B")
    assert client.get("/v1/jobs", headers={"X-API-Key": tampered}).status_code == 401
    with sessions() as session:
        key = session.query(ApiKey).filter_by(user_id=account.user_id).one()
        key.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert client.get("/v1/jobs", headers=account.headers).status_code == 401


def test_a_revoked_key_fails_at_once_and_a_rotated_one_after_its_grace(client, sessions, account):
    token = bearer(sign_in(client, account)["access_token"])
    created = client.post("/v1/api-keys", json={"name": "ci"}, headers=token).get_json()
    rotated = client.post(f"/v1/api-keys/{created['id']}/rotate", json={"grace_seconds": 60}, headers=token).get_json()
    old, new = {"X-API-Key": created["key"]}, {"X-API-Key": rotated["new"]["key"]}
    assert client.get("/v1/jobs", headers=old).status_code == 200  # within the grace period
    assert client.get("/v1/jobs", headers=new).status_code == 200
    with sessions() as session:  # the grace period ends
        session.get(ApiKey, uuid.UUID(created["id"])).expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert client.get("/v1/jobs", headers=old).status_code == 401
    assert client.delete(f"/v1/api-keys/{rotated['new']['id']}", headers=token).status_code == 204
    assert client.get("/v1/jobs", headers=new).status_code == 401


def test_keys_have_a_prefix_and_checksum_and_only_a_hash_is_stored(client, sessions, account):
    token = bearer(sign_in(client, account)["access_token"])
    created = client.post("/v1/api-keys", json={"name": "scan-me"}, headers=token).get_json()
    assert created["key"].startswith("sck_") and created["prefix"] == created["key"][:12]
    with sessions() as session:
        stored = session.get(ApiKey, uuid.UUID(created["id"]))
    assert created["key"].encode() not in stored.key_hash and len(stored.key_hash) == 32
    assert "key" not in client.get("/v1/api-keys", headers=token).get_json()["items"][0]


def test_sign_in_answers_the_same_for_unknown_emails_and_wrong_passwords(client, account):
    wrong = client.post("/v1/auth/token", json={"email": account.email, "password": "wrong-password!"})
    unknown = client.post("/v1/auth/token", json={"email": "nobody@example.test", "password": "wrong-password!"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()


def test_failed_sign_ins_are_rate_limited_per_email_and_address(make_app, account):
    client = make_app(LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS="3/minute").test_client()
    for _ in range(3):
        assert (
            client.post("/v1/auth/token", json={"email": account.email, "password": "wrong-password!"}).status_code
            == 401
        )
    blocked = client.post("/v1/auth/token", json={"email": account.email, "password": account.password})
    assert blocked.status_code == 429 and blocked.mimetype == "application/problem+json"
    assert int(blocked.headers["Retry-After"]) > 0
    # Another email from the same address is not blocked by this limit.
    unknown = client.post("/v1/auth/token", json={"email": "other@example.test", "password": "wrong-password!"})
    assert unknown.status_code == 401


def test_failed_sign_ins_are_rate_limited_per_address_across_emails(make_app):
    client = make_app(LOGIN_RATE_LIMIT_PER_ADDRESS="4/minute").test_client()
    statuses = [
        client.post(
            "/v1/auth/token",
            json={"email": f"guess{i}@example.test", "password": "wrong-password!"},
            environ_base={"REMOTE_ADDR": "203.0.113.9"},
        ).status_code
        for i in range(6)
    ]
    assert statuses == [401, 401, 401, 401, 429, 429]
    other = client.post(
        "/v1/auth/token",
        json={"email": "guess@example.test", "password": "wrong-password!"},
        environ_base={"REMOTE_ADDR": "203.0.113.10"},
    )
    assert other.status_code == 401


def _sign_in_from(client, address: str, email: str, password: str) -> int:
    return client.post(
        "/v1/auth/token", json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    ).status_code


def test_an_attacker_elsewhere_cannot_lock_a_user_out(make_app, account):
    """Five wrong passwords a minute for an email, from any address, made the user's right password answer 429."""
    client = make_app(LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS="3/minute").test_client()
    attacker = [_sign_in_from(client, "203.0.113.5", account.email, "wrong-password!") for _ in range(6)]
    assert attacker == [401, 401, 401, 429, 429, 429]
    assert _sign_in_from(client, "198.51.100.20", account.email, "mistyped-password") == 401  # a typo: no 429
    assert _sign_in_from(client, "198.51.100.20", account.email, account.password) == 200


def test_an_address_that_keeps_guessing_waits_longer_each_time(make_app, account):
    client = make_app(LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS="2/second;3/hour").test_client()
    assert [_sign_in_from(client, "203.0.113.6", account.email, "wrong-password!") for _ in range(3)] == [401, 401, 429]
    short = client.post(
        "/v1/auth/token", json={"email": account.email, "password": "x"}, environ_base={"REMOTE_ADDR": "203.0.113.6"}
    )
    assert short.status_code == 429 and int(short.headers["Retry-After"]) <= 2
    time.sleep(1.1)
    assert _sign_in_from(client, "203.0.113.6", account.email, "wrong-password!") == 401  # the third of the hour
    long = client.post(
        "/v1/auth/token", json={"email": account.email, "password": "x"}, environ_base={"REMOTE_ADDR": "203.0.113.6"}
    )
    assert long.status_code == 429 and int(long.headers["Retry-After"]) > 60


def test_a_distributed_attack_on_one_email_slows_itself_and_is_logged_and_audited(make_app, account):
    client = make_app(LOGIN_RATE_LIMIT_PER_EMAIL="5/hour").test_client()
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append
    logging.getLogger("smartcompute.web").addHandler(handler)
    try:
        firsts = [_sign_in_from(client, f"203.0.113.{index}", account.email, "wrong-password!") for index in range(8)]
    finally:
        logging.getLogger("smartcompute.web").removeHandler(handler)
    assert firsts == [401] * 8  # each address's first try is answered
    alerts = [record for record in warnings if record.getMessage().startswith("sign-in attack suspected")]
    assert len(alerts) == 1 and alerts[0].email == account.email  # once per window, however many follow
    # Under attack (from the 6th failure on), each address may fail for this email once per window: the 8th
    # address has, and waits; its first try is all another address gets; the user, at an address that has not
    # failed, still signs in at once.
    assert _sign_in_from(client, "203.0.113.7", account.email, "wrong-password!") == 429
    assert [_sign_in_from(client, "203.0.113.200", account.email, "wrong-password!") for _ in range(2)] == [401, 429]
    assert _sign_in_from(client, "198.51.100.30", account.email, account.password) == 200
    owner = bearer(sign_in(client, account)["access_token"])
    events = client.get("/v1/account/audit-events?action=auth.sign_in_attack", headers=owner).get_json()["items"]
    assert len(events) == 1 and events[0]["actor"] == "anonymous"
    assert events[0]["details"]["submitted_email"] == account.email and events[0]["target_id"] == str(account.user_id)
