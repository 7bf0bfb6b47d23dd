"""Job callbacks through the API: registering one with a job, seeing how it went, and the signing secret."""

from __future__ import annotations

from sqlalchemy import update

from smartcompute.db import utcnow
from smartcompute.jobs import callbacks
from smartcompute.jobs.models import JobCallback
from tests.security.conftest import bearer, sign_in
from tests.conftest import make_account
from tests.support import job_body

HOOK = "https://hooks.example.com/smartcompute?team=7"


def submit(client, account, **headers):
    return client.post("/v1/jobs", json={**job_body(), "callback_url": HOOK}, headers={**account.headers, **headers})


def test_a_job_with_a_callback_shows_it_pending_when_accepted_and_when_polled(client, account):
    response = submit(client, account)
    assert response.status_code == 202
    expected = {"url": HOOK, "status": "pending", "attempts": 0, "last_status": None, "last_error": None}
    assert response.get_json()["callback"] == expected
    polled = client.get(response.headers["Location"], headers=account.headers).get_json()
    assert polled["callback"] == expected


def test_a_listed_job_is_a_summary_without_its_callback(client, account):
    submit(client, account)
    [item] = client.get("/v1/jobs", headers=account.headers).get_json()["items"]
    assert "callback" not in item and "result" not in item


def test_an_idempotent_replay_shows_the_callback_and_another_url_is_another_request(client, account):
    first = submit(client, account, **{"Idempotency-Key": "cb-1"}).get_json()
    again = submit(client, account, **{"Idempotency-Key": "cb-1"})
    assert again.status_code == 202 and again.get_json()["id"] == first["id"]
    assert again.get_json()["callback"]["url"] == HOOK
    other = client.post(
        "/v1/jobs",
        json={**job_body(), "callback_url": HOOK + "&x=1"},
        headers={**account.headers, "Idempotency-Key": "cb-1"},
    )
    assert other.status_code == 422 and other.get_json()["type"].endswith("idempotency-conflict")


def test_canceling_a_job_with_a_callback_answers_with_it(client, account):
    job = submit(client, account).get_json()
    canceled = client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    assert canceled.status_code == 200 and canceled.get_json()["callback"]["status"] == "pending"


def test_a_malformed_callback_url_is_a_422_naming_the_field(client, account):
    response = client.post(
        "/v1/jobs", json={**job_body(), "callback_url": "ftp://example.com/x"}, headers=account.headers
    )
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "callback_url", "message": "must be an absolute http or https URL"}
    ]


def test_the_callback_secret_is_made_once_and_shown_to_whoever_may_submit_jobs(client, account):
    first = client.get("/v1/account/callback-secret", headers=account.headers)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    body = first.get_json()
    assert body["secret"].startswith("whsec_") and body["scheme"] == "standard-webhooks"
    assert client.get("/v1/account/callback-secret", headers=account.headers).get_json() == body


def test_a_viewer_cannot_read_the_callback_secret(client, sessions, account):
    viewer = make_account(sessions, role="viewer", account_of=account)
    assert client.get("/v1/account/callback-secret", headers=viewer.headers).status_code == 403


def test_an_analyst_cannot_rotate_the_accounts_callback_secret(client, sessions, account):
    """Every receiver of the account checks this secret: an analyst (who holds keys:write) rotating it broke
    them all. Only owners hold callbacks:write."""
    analyst = make_account(sessions, role="analyst", account_of=account)
    before = client.get("/v1/account/callback-secret", headers=account.headers).get_json()["secret"]
    token = bearer(sign_in(client, analyst)["access_token"])
    refused = client.post("/v1/account/callback-secret/rotate", headers=token)
    assert refused.status_code == 403 and "callbacks:write" in refused.get_json()["detail"]
    assert client.get("/v1/account/callback-secret", headers=account.headers).get_json()["secret"] == before
    key = client.post("/v1/api-keys", json={"name": "x", "scopes": ["callbacks:write"]}, headers=token)
    assert key.status_code == 422  # nor can an analyst mint a key that holds it


def test_rotating_the_secret_replaces_it_and_is_audited(client, account):
    before = client.get("/v1/account/callback-secret", headers=account.headers).get_json()["secret"]
    assert client.post("/v1/account/callback-secret/rotate", headers=account.headers).status_code == 403
    owner = bearer(sign_in(client, account)["access_token"])
    rotated = client.post("/v1/account/callback-secret/rotate", headers=owner)
    assert rotated.status_code == 200 and rotated.get_json()["secret"] not in (before, None)
    assert client.get("/v1/account/callback-secret", headers=account.headers).get_json() == rotated.get_json()
    events = client.get("/v1/account/audit-events?action=callback_secret.rotate", headers=owner).get_json()["items"]
    assert len(events) == 1 and events[0]["actor"] == account.email


def test_the_openapi_document_describes_the_notification_a_callback_url_receives(client):
    document = client.get("/v1/openapi.json").get_json()
    [expression] = document["paths"]["/v1/jobs"]["post"]["callbacks"]["jobFinished"]
    notification = document["paths"]["/v1/jobs"]["post"]["callbacks"]["jobFinished"][expression]["post"]
    assert expression == "{$request.body#/callback_url}"
    assert notification["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/JobFinished")
    assert "data" in document["components"]["schemas"]["JobFinished"]["properties"]


def resend(client, account, job_id):
    return client.post(f"/v1/jobs/{job_id}/callback/resend", headers=account.headers)


def test_a_given_up_callback_can_be_started_over(client, account, sessions):
    job = submit(client, account).get_json()
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    with sessions() as session:
        session.execute(
            update(JobCallback)
            .where(JobCallback.job_id == job["id"])
            .values(attempts=callbacks.MAX_ATTEMPTS, given_up_at=utcnow(), last_error="no answer: refused")
        )
        session.commit()
    assert client.get(f"/v1/jobs/{job['id']}", headers=account.headers).get_json()["callback"]["status"] == "failed"
    response = resend(client, account, job["id"])
    assert response.status_code == 202
    assert response.get_json()["callback"] == {
        "url": HOOK,
        "status": "pending",
        "attempts": 0,
        "last_status": None,
        "last_error": None,
    }


def test_a_callback_is_not_resent_before_its_job_finishes_nor_for_a_job_without_one(client, account):
    queued = submit(client, account).get_json()
    assert resend(client, account, queued["id"]).status_code == 409
    plain = client.post("/v1/jobs", json=job_body(), headers=account.headers).get_json()
    client.post(f"/v1/jobs/{plain['id']}/cancel", headers=account.headers)
    refused = resend(client, account, plain["id"])
    assert refused.status_code == 409 and refused.get_json()["detail"] == "the job has no callback_url"


def test_another_accounts_job_callback_cannot_be_resent(client, account, other_account):
    job = submit(client, account).get_json()
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    assert resend(client, other_account, job["id"]).status_code == 404
