"""API3 Broken Object Property Level Authorization: no body sets a role, account, plan or credits
(mass assignment), and no response exposes a secret it should not."""

from __future__ import annotations

import uuid

import pytest

from smartcompute.accounts.models import Account, User
from tests.security.conftest import bearer, sign_in
from tests.support import job_body

PRIVILEGED = {
    "role": "owner",
    "account_id": "00000000-0000-0000-0000-000000000001",
    "plan": "enterprise",
    "credits": 10**9,
    "is_staff": True,
    "user_id": "00000000-0000-0000-0000-000000000002",
}


def _refused(response) -> None:
    assert response.status_code == 422 and response.mimetype == "application/problem+json"


@pytest.mark.parametrize("field", sorted(PRIVILEGED))
def test_a_job_body_cannot_carry_privileged_fields(client, account, field):
    _refused(client.post("/v1/jobs", json={**job_body(points=10), field: PRIVILEGED[field]}, headers=account.headers))


@pytest.mark.parametrize("field", ["account_id", "user_id", "is_staff", "key_hash", "plan"])
def test_an_api_key_body_cannot_choose_its_owner_or_hash(client, account, field):
    token = bearer(sign_in(client, account)["access_token"])
    _refused(client.post("/v1/api-keys", json={"name": "x", field: PRIVILEGED.get(field, "x")}, headers=token))


def test_a_member_cannot_be_created_as_staff_or_in_another_account(client, sessions, account, other_account):
    token = bearer(sign_in(client, account)["access_token"])
    marker = uuid.uuid4().hex
    for field in ("is_staff", "account_id", "plan"):
        body = {"email": f"mass-{marker}-{field}@example.test", "role": "viewer", field: PRIVILEGED[field]}
        _refused(client.post("/v1/account/members", json=body, headers=token))
    with sessions() as session:
        assert session.query(User).filter(User.email.like(f"mass-{marker}-%")).count() == 0


def test_a_member_update_cannot_move_or_promote_to_staff(client, sessions, account, member):
    viewer = member("viewer", account_of=account)
    token = bearer(sign_in(client, account)["access_token"])
    for field in ("is_staff", "account_id", "email", "password_hash"):
        _refused(
            client.patch(
                f"/v1/account/members/{viewer.user_id}", json={field: PRIVILEGED.get(field, "x")}, headers=token
            )
        )
    with sessions() as session:
        user = session.get(User, viewer.user_id)
        assert (user.is_staff, user.account_id, user.role) == (False, account.account_id, "viewer")


def test_an_owner_cannot_change_their_own_plan(client, sessions, account):
    token = bearer(sign_in(client, account)["access_token"])
    assert (
        client.patch(f"/v1/admin/accounts/{account.account_id}", json={"plan": "enterprise"}, headers=token).status_code
        == 403
    )
    assert client.patch("/v1/account", json={"plan": "enterprise"}, headers=token).status_code == 405
    with sessions() as session:
        assert session.get(Account, account.account_id).plan == "free"


def test_sign_in_and_refresh_bodies_forbid_extra_fields(client, account):
    _refused(
        client.post("/v1/auth/token", json={"email": account.email, "password": account.password, "role": "owner"})
    )
    _refused(client.post("/v1/auth/refresh", json={"refresh_token": "x", "sub": str(account.user_id)}))


def test_responses_never_expose_hashes_or_secrets(client, account):
    token = bearer(sign_in(client, account)["access_token"])
    bodies = [
        client.get(path, headers=token).get_data(as_text=True)
        for path in ("/v1/api-keys", "/v1/account", "/v1/account/members", "/v1/account/audit-events")
    ]
    for body in bodies:
        assert "password" not in body and "key_hash" not in body and account.api_key not in body
