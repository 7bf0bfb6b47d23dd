"""API5 Broken Function Level Authorization: each role reaches only its functions; staff powers need staff
signed in with a JWT; a key can never grant more than its creator holds."""

from __future__ import annotations

import pytest

from tests.security.conftest import bearer, sign_in
from tests.support import job_body

ADMIN_CALLS = [
    ("get", "/v1/admin/accounts", None),
    ("get", "/v1/admin/users", None),
    ("get", "/v1/admin/audit-events", None),
    ("patch", "/v1/admin/users/00000000-0000-0000-0000-000000000000", {"is_active": False}),
    ("patch", "/v1/admin/accounts/00000000-0000-0000-0000-000000000000", {"plan": "pro"}),
]
OWNER_CALLS = [
    ("get", "/v1/account/members", None),
    ("post", "/v1/account/members", {"email": "x@example.test"}),
    ("get", "/v1/account/audit-events", None),
    ("patch", "/v1/account/members/00000000-0000-0000-0000-000000000000", {"role": "owner"}),
]


def _call(client, method, path, body, headers):
    return (
        getattr(client, method)(path, json=body, headers=headers)
        if body
        else getattr(client, method)(path, headers=headers)
    )


@pytest.mark.parametrize("role", ["owner", "analyst", "viewer"])
def test_no_customer_role_reaches_the_admin_api(client, account, member, role):
    user = account if role == "owner" else member(role, account_of=account)
    token = bearer(sign_in(client, user)["access_token"])
    for method, path, body in ADMIN_CALLS:
        assert _call(client, method, path, body, token).status_code == 403, path


def test_a_staff_api_key_does_not_reach_the_admin_api(client, staff):
    for method, path, body in ADMIN_CALLS:
        assert _call(client, method, path, body, staff.headers).status_code in (401, 403), path
    assert client.get("/v1/admin/users", headers=bearer(sign_in(client, staff)["access_token"])).status_code == 200


@pytest.mark.parametrize("role", ["analyst", "viewer"])
def test_only_owners_manage_members_and_read_the_audit_log(client, account, member, role):
    token = bearer(sign_in(client, member(role, account_of=account))["access_token"])
    for method, path, body in OWNER_CALLS:
        assert _call(client, method, path, body, token).status_code == 403, path


def test_a_viewer_reads_jobs_but_cannot_submit_or_manage_keys(client, account, member):
    token = bearer(sign_in(client, member("viewer", account_of=account))["access_token"])
    assert client.get("/v1/jobs", headers=token).status_code == 200
    assert client.post("/v1/jobs", json=job_body(points=10), headers=token).status_code == 403
    assert client.post("/v1/api-keys", json={"name": "x"}, headers=token).status_code == 403
    assert client.get("/v1/api-keys", headers=token).status_code == 403


def test_an_analyst_cannot_mint_a_key_with_scopes_beyond_their_role(client, account, member):
    token = bearer(sign_in(client, member("analyst", account_of=account))["access_token"])
    response = client.post("/v1/api-keys", json={"name": "x", "scopes": ["audit:read"]}, headers=token)
    assert response.status_code == 422
    assert client.post("/v1/api-keys", json={"name": "x", "scopes": ["jobs:write"]}, headers=token).status_code == 201


def test_a_jobs_only_key_cannot_manage_keys_or_members(client, account):
    assert client.post("/v1/api-keys", json={"name": "x"}, headers=account.headers).status_code == 403
    assert client.get("/v1/account/members", headers=account.headers).status_code == 403


def test_a_demoted_owners_key_loses_owner_scopes_at_once(client, sessions, account, member):
    second_owner = member("owner", account_of=account)
    token = bearer(sign_in(client, account)["access_token"])
    audit_key = client.post("/v1/api-keys", json={"name": "audit", "scopes": ["audit:read"]}, headers=token).get_json()
    assert client.get("/v1/account/audit-events", headers={"X-API-Key": audit_key["key"]}).status_code == 200
    other = bearer(sign_in(client, second_owner)["access_token"])
    assert (
        client.patch(f"/v1/account/members/{account.user_id}", json={"role": "analyst"}, headers=other).status_code
        == 200
    )
    assert client.get("/v1/account/audit-events", headers={"X-API-Key": audit_key["key"]}).status_code == 403


def test_the_last_active_owner_cannot_be_demoted_or_disabled(client, account):
    token = bearer(sign_in(client, account)["access_token"])
    for change in ({"role": "viewer"}, {"is_active": False}):
        assert client.patch(f"/v1/account/members/{account.user_id}", json=change, headers=token).status_code == 409


def test_an_owner_cannot_rotate_a_members_key_to_act_as_them_but_may_revoke_it(client, sessions, account, member):
    """Rotation hands out a working secret of the key's holder: an owner who rotated an analyst's key held a key
    whose jobs were attributed to the analyst."""
    from smartcompute.accounts.models import ApiKey

    analyst = member("analyst", account_of=account)
    analyst_token = bearer(sign_in(client, analyst)["access_token"])
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=analyst_token).get_json()
    owner_token = bearer(sign_in(client, account)["access_token"])
    refused = client.post(f"/v1/api-keys/{key['id']}/rotate", json={"grace_seconds": 0}, headers=owner_token)
    assert refused.status_code == 403 and "sck_" not in refused.get_data(as_text=True)
    assert "only the key's holder can rotate it" in refused.get_json()["detail"]
    with sessions() as session:  # nothing was issued, and the analyst's key is untouched
        keys = session.query(ApiKey).filter_by(user_id=analyst.user_id).all()
    assert {(row.name, row.replaced_by_id, row.expires_at) for row in keys if row.name == "ci"} == {("ci", None, None)}
    assert client.get("/v1/jobs", headers={"X-API-Key": key["key"]}).status_code == 200
    assert client.post(f"/v1/api-keys/{key['id']}/rotate", json={}, headers=analyst_token).status_code == 201
    assert client.delete(f"/v1/api-keys/{key['id']}", headers=owner_token).status_code == 204
