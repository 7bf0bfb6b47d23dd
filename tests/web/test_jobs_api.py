"""The job API as a customer sees it, without a worker: submit, poll, list, cancel, idempotency, isolation."""

from __future__ import annotations

import uuid

from tests.support import job_body


def submit(client, account, body=None, **headers):
    return client.post("/v1/jobs", json=body or job_body(), headers={**account.headers, **headers})


def test_submitting_a_job_answers_202_with_location_and_retry_after(client, account):
    response = submit(client, account)
    assert response.status_code == 202
    job = response.get_json()
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert int(response.headers["Retry-After"]) >= 1
    assert job["status"] == "queued" and job["priority"] == "normal" and job["progress"] == 0
    assert set(job) == {
        "id",
        "type",
        "status",
        "priority",
        "progress",
        "created_at",
        "started_at",
        "finished_at",
        "expires_at",
        "result",
        "error",
        "callback",
        "host",
        "imported",
    }
    assert job["callback"] is None


def test_a_submitted_job_can_be_polled(client, account):
    job = submit(client, account, job_body("threat_analysis", priority="critical")).get_json()
    polled = client.get(f"/v1/jobs/{job['id']}", headers=account.headers)
    assert polled.status_code == 200
    assert polled.get_json()["type"] == "threat_analysis"
    assert polled.get_json()["priority"] == "critical"


def test_another_accounts_job_is_not_found(client, account, other_account):
    job = submit(client, account).get_json()
    for method, path in (("get", f"/v1/jobs/{job['id']}"), ("post", f"/v1/jobs/{job['id']}/cancel")):
        response = getattr(client, method)(path, headers=other_account.headers)
        assert response.status_code == 404
        assert response.get_json()["detail"] == "no such job"
        assert "queued" not in response.get_data(as_text=True)


def test_an_unknown_job_is_not_found(client, account):
    assert client.get(f"/v1/jobs/{uuid.uuid4()}", headers=account.headers).status_code == 404
    assert client.get("/v1/jobs/not-a-uuid", headers=account.headers).status_code == 404


def test_the_same_idempotency_key_and_body_returns_the_same_job(client, account):
    first = submit(client, account, job_body(), **{"Idempotency-Key": "order-1"}).get_json()
    second = submit(client, account, job_body(), **{"Idempotency-Key": "order-1"})
    assert second.status_code == 202
    assert second.get_json()["id"] == first["id"]


def test_the_same_idempotency_key_with_another_body_is_422(client, account):
    submit(client, account, job_body(points=50), **{"Idempotency-Key": "order-2"})
    response = submit(client, account, job_body(points=60), **{"Idempotency-Key": "order-2"})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "Idempotency-Key"


def test_idempotency_keys_are_per_account(client, account, other_account):
    mine = submit(client, account, **{"Idempotency-Key": "shared"}).get_json()
    theirs = submit(client, other_account, **{"Idempotency-Key": "shared"}).get_json()
    assert mine["id"] != theirs["id"]


def test_listing_is_newest_first_with_a_cursor_over_every_job(client, account):
    ids = [submit(client, account).get_json()["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/v1/jobs{query}", headers=account.headers).get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))


def test_listing_filters_by_status_and_type(client, account):
    kept = submit(client, account, job_body("performance_analysis")).get_json()
    canceled = submit(client, account, job_body("performance_analysis")).get_json()
    client.post(f"/v1/jobs/{canceled['id']}/cancel", headers=account.headers)
    page = client.get("/v1/jobs?status=queued&type=performance_analysis", headers=account.headers).get_json()
    assert [item["id"] for item in page["items"]] == [kept["id"]]


def test_listing_rejects_a_bad_filter_cursor_or_limit(client, account):
    for query in ("status=done", "type=magic", "limit=0", "limit=1000", "cursor=!!"):
        response = client.get(f"/v1/jobs?{query}", headers=account.headers)
        assert response.status_code == 422, query


def test_listing_never_shows_another_accounts_jobs(client, account, other_account):
    submit(client, other_account)
    page = client.get("/v1/jobs", headers=account.headers).get_json()
    assert page["items"] == []


def test_canceling_a_queued_job(client, account):
    job = submit(client, account).get_json()
    response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "canceled"
    assert response.get_json()["finished_at"] is not None


def test_canceling_a_finished_job_is_409(client, account):
    job = submit(client, account).get_json()
    client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=account.headers)
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"


def test_a_request_id_is_returned_and_kept_when_given(client, account):
    generated = client.get("/v1/jobs", headers=account.headers)
    assert len(generated.headers["X-Request-ID"]) >= 16
    given = client.get("/v1/jobs", headers={**account.headers, "X-Request-ID": "trace-123"})
    assert given.headers["X-Request-ID"] == "trace-123"
