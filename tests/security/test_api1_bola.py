"""API1 Broken Object Level Authorization: another account's objects are 404, whatever the id."""

from __future__ import annotations

from tests.security.conftest import bearer, sign_in
from tests.support import job_body


def _job_of(client, account) -> str:
    response = client.post("/v1/jobs", json=job_body(points=20), headers=account.headers)
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


def test_another_accounts_job_cannot_be_read_or_canceled(client, account, other_account):
    job_id = _job_of(client, account)
    assert client.get(f"/v1/jobs/{job_id}", headers=other_account.headers).status_code == 404
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=other_account.headers).status_code == 404
    listed = client.get("/v1/jobs", headers=other_account.headers).get_json()["items"]
    assert job_id not in {job["id"] for job in listed}
    assert client.get(f"/v1/jobs/{job_id}", headers=account.headers).status_code == 200


def test_another_accounts_api_key_cannot_be_seen_revoked_or_rotated(client, account, other_account):
    victim = sign_in(client, account)["access_token"]
    attacker = sign_in(client, other_account)["access_token"]
    key_id = client.post("/v1/api-keys", json={"name": "victim"}, headers=bearer(victim)).get_json()["id"]
    assert client.delete(f"/v1/api-keys/{key_id}", headers=bearer(attacker)).status_code == 404
    assert client.post(f"/v1/api-keys/{key_id}/rotate", json={}, headers=bearer(attacker)).status_code == 404
    assert key_id not in {key["id"] for key in client.get("/v1/api-keys", headers=bearer(attacker)).get_json()["items"]}
    assert client.get("/v1/api-keys", headers=bearer(victim)).get_json()["items"][0]["revoked_at"] is None


def test_an_analyst_cannot_touch_a_colleagues_key(client, account, member):
    analyst = member("analyst", account_of=account)
    owner_token = sign_in(client, account)["access_token"]
    key_id = client.post("/v1/api-keys", json={"name": "owner's"}, headers=bearer(owner_token)).get_json()["id"]
    analyst_token = sign_in(client, analyst)["access_token"]
    assert client.delete(f"/v1/api-keys/{key_id}", headers=bearer(analyst_token)).status_code == 404
    listed = client.get("/v1/api-keys", headers=bearer(analyst_token)).get_json()["items"]
    assert {key["user_id"] for key in listed} == {str(analyst.user_id)}


def test_another_accounts_member_cannot_be_changed(client, account, other_account):
    attacker = sign_in(client, other_account)["access_token"]
    response = client.patch(
        f"/v1/account/members/{account.user_id}", json={"is_active": False}, headers=bearer(attacker)
    )
    assert response.status_code == 404
    assert client.get("/v1/jobs", headers=account.headers).status_code == 200


def test_another_accounts_audit_events_and_members_are_not_listed(client, account, other_account):
    sign_in(client, account)
    attacker = sign_in(client, other_account)["access_token"]
    events = client.get("/v1/account/audit-events", headers=bearer(attacker)).get_json()["items"]
    assert {event["account_id"] for event in events} == {str(other_account.account_id)}
    members = client.get("/v1/account/members", headers=bearer(attacker)).get_json()["items"]
    assert {user["email"] for user in members} == {other_account.email}


def test_malformed_and_unknown_ids_are_404_not_500(client, account):
    token = sign_in(client, account)["access_token"]
    for path in ("/v1/jobs/not-a-uuid", "/v1/jobs/00000000-0000-0000-0000-000000000000"):
        assert client.get(path, headers=account.headers).status_code == 404
    assert client.delete("/v1/api-keys/../../etc", headers=bearer(token)).status_code == 404
    assert client.delete("/v1/api-keys/12345", headers=bearer(token)).status_code == 404
