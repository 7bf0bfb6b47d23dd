"""API4 Unrestricted Resource Consumption: per-plan rate limits (Redis), job quotas, size limits."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from smartcompute.accounts.models import Account
from smartcompute.billing.models import CreditHold
from smartcompute.jobs.models import Job
from tests.security.conftest import bearer, sign_in
from tests.support import job_body

TIGHT = "free:requests=3/minute,jobs_per_day=100,concurrent_jobs=100,points_per_job=100000;pro:requests=10/minute"


def _assert_rate_limited(response) -> None:
    assert response.status_code == 429 and response.mimetype == "application/problem+json"
    assert response.get_json()["type"] == "/problems/rate-limited"
    assert 0 < int(response.headers["Retry-After"]) <= 61


def test_the_plan_limit_holds_per_account_with_ietf_and_x_ratelimit_headers(make_app, account):
    client = make_app(PLANS=TIGHT).test_client()
    first = client.get("/v1/jobs", headers=account.headers)
    assert first.headers["RateLimit-Policy"] == '"plan";q=3;w=60'
    assert first.headers["RateLimit"].startswith('"plan";r=2;t=')
    assert (first.headers["X-RateLimit-Limit"], first.headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert 1 <= int(first.headers["RateLimit"].rsplit("t=", 1)[1]) <= 60
    assert time.time() < int(first.headers["X-RateLimit-Reset"]) + 1 <= time.time() + 62
    assert [client.get("/v1/jobs", headers=account.headers).status_code for _ in range(2)] == [200, 200]
    _assert_rate_limited(client.get("/v1/jobs", headers=account.headers))


def test_more_keys_and_sign_ins_do_not_multiply_the_plans_rate(make_app, sessions, account, member):
    """4 keys and a JWT gave one free user 300 requests a minute against a plan of 60: every key and sign-in of
    the account now draws on the one allowance, members' included."""
    from smartcompute.accounts import services

    client = make_app(PLANS=TIGHT.replace("requests=3/minute", "requests=10/minute")).test_client()
    with sessions() as session:
        keys = [services.create_api_key(session, account.user_id, name=f"k{index}")[1] for index in range(4)]
        session.commit()
    colleague = member("analyst", account_of=account)
    callers = [{"X-API-Key": key} for key in keys] + [
        bearer(sign_in(client, account)["access_token"]),
        colleague.headers,
    ]
    statuses = [client.get("/v1/jobs", headers=callers[index % len(callers)]).status_code for index in range(30)]
    assert statuses.count(200) == 10 and set(statuses[10:]) == {429}


def test_a_key_with_a_rate_of_its_own_is_held_to_it_within_the_accounts(make_app, account):
    client = make_app(PLANS="free:requests=5/minute").test_client()
    owner = bearer(sign_in(client, account)["access_token"])
    narrow = client.post("/v1/api-keys", json={"name": "ci", "rate_limit": "2/minute"}, headers=owner)
    assert narrow.status_code == 201 and narrow.get_json()["rate_limit"] == "2/minute"
    ci = {"X-API-Key": narrow.get_json()["key"]}
    assert [client.get("/v1/jobs", headers=ci).status_code for _ in range(2)] == [200, 200]
    refused = client.get("/v1/jobs", headers=ci)
    _assert_rate_limited(refused)
    assert refused.get_json()["detail"].startswith("rate limit of 2 per 1 minute exceeded")
    assert client.get("/v1/jobs", headers=account.headers).status_code == 200  # the account has some left


@pytest.mark.parametrize("rate", ["ten/minute", "5/fortnight", "\u00b2/minute", "5/minute;1/second", " "])
def test_a_keys_own_rate_must_be_a_rate(client, account, rate):
    owner = bearer(sign_in(client, account)["access_token"])
    response = client.post("/v1/api-keys", json={"name": "x", "rate_limit": rate}, headers=owner)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "rate_limit", rate


def test_a_keys_own_rate_at_or_above_the_plans_is_refused(make_app, account):
    client = make_app(PLANS="free:requests=60/minute").test_client()
    owner = bearer(sign_in(client, account)["access_token"])
    for rate in ("60/minute", "1/second", "3600/hour"):
        response = client.post("/v1/api-keys", json={"name": "x", "rate_limit": rate}, headers=owner)
        assert response.status_code == 422 and "below the free plan's 60/minute" in response.get_json()["detail"]


def test_the_number_of_keys_in_use_has_a_plan_limit(make_app, account):
    client = make_app(PLANS="free:api_keys=3").test_client()
    owner = bearer(sign_in(client, account)["access_token"])  # make_account's own key is the first of 3
    made = [client.post("/v1/api-keys", json={"name": f"k{index}"}, headers=owner) for index in range(3)]
    assert [response.status_code for response in made] == [201, 201, 409]
    assert made[2].get_json()["type"] == "/problems/plan-limit-exceeded"
    rotated = client.post(f"/v1/api-keys/{made[0].get_json()['id']}/rotate", json={"grace_seconds": 60}, headers=owner)
    assert rotated.status_code == 201  # a rotation replaces a key; the old one's grace does not count
    assert client.delete(f"/v1/api-keys/{made[1].get_json()['id']}", headers=owner).status_code == 204
    assert client.post("/v1/api-keys", json={"name": "again"}, headers=owner).status_code == 201


def test_concurrent_key_creations_cannot_pass_the_plans_number(make_app, sessions, account):
    from smartcompute.accounts.models import ApiKey

    app = make_app(PLANS="free:api_keys=4")
    owner = bearer(sign_in(app.test_client(), account)["access_token"])
    barrier = threading.Barrier(8)

    def create(index: int) -> int:
        client = app.test_client()
        barrier.wait()
        return client.post("/v1/api-keys", json={"name": f"race{index}"}, headers=owner).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(create, range(8)))
    assert statuses == [201] * 3 + [409] * 5
    with sessions() as session:
        assert session.query(ApiKey).filter_by(account_id=account.account_id).count() == 4


def test_a_better_plan_raises_the_limit_on_the_next_request(make_app, sessions, account):
    client = make_app(PLANS=TIGHT).test_client()
    assert all(client.get("/v1/jobs", headers=account.headers).status_code == 200 for _ in range(3))
    _assert_rate_limited(client.get("/v1/jobs", headers=account.headers))
    with sessions() as session:
        session.get(Account, account.account_id).plan = "pro"
        session.commit()
    response = client.get("/v1/jobs", headers=account.headers)
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "10"


def test_anonymous_calls_are_limited_per_address_and_x_forwarded_for_cannot_dodge_it(make_app):
    client = make_app(ANONYMOUS_RATE_LIMIT="2/minute").test_client()
    spoofed = [client.get("/v1/openapi.json", headers={"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(3)]
    assert [response.status_code for response in spoofed[:2]] == [200, 200]
    _assert_rate_limited(spoofed[2])
    assert spoofed[0].headers["RateLimit-Policy"] == '"anonymous";q=2;w=60'


def test_behind_one_trusted_proxy_the_proxys_entry_is_the_client(make_app):
    client = make_app(ANONYMOUS_RATE_LIMIT="2/minute", TRUSTED_PROXY_COUNT="1").test_client()

    def via_proxy(client_claims: str, proxy_saw: str):
        return client.get("/v1/openapi.json", headers={"X-Forwarded-For": f"{client_claims}, {proxy_saw}"}).status_code

    # The client forges the first entry each time; the proxy appends the real address last.
    assert [via_proxy(f"10.0.0.{i}", "203.0.113.7") for i in range(3)] == [200, 200, 429]
    assert via_proxy("10.0.0.1", "203.0.113.8") == 200


def test_health_is_not_rate_limited(make_app):
    client = make_app(ANONYMOUS_RATE_LIMIT="1/minute").test_client()
    assert [client.get("/health").status_code for _ in range(3)] == [200, 200, 200]


def test_points_per_job_beyond_the_plan_is_422(make_app, account):
    client = make_app(PLANS="free:points_per_job=50").test_client()
    response = client.post("/v1/jobs", json=job_body(points=30), headers=account.headers)  # 30 x 2 metrics
    assert response.status_code == 422 and response.get_json()["type"] == "/problems/plan-limit-exceeded"
    assert client.post("/v1/jobs", json=job_body(points=25), headers=account.headers).status_code == 202


def test_jobs_per_day_quota_is_429_until_tomorrow(make_app, account):
    client = make_app(PLANS="free:jobs_per_day=2,concurrent_jobs=100").test_client()
    assert [
        client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).status_code for _ in range(2)
    ] == [202, 202]
    response = client.post("/v1/jobs", json=job_body(points=10), headers=account.headers)
    assert response.status_code == 429 and response.get_json()["type"] == "/problems/quota-exceeded"
    assert 0 < int(response.headers["Retry-After"]) <= 86400


def test_an_idempotent_retry_after_the_quota_is_used_up_returns_the_job(make_app, account):
    client = make_app(PLANS="free:jobs_per_day=1,concurrent_jobs=100").test_client()
    headers = {**account.headers, "Idempotency-Key": "retry-after-quota"}
    first = client.post("/v1/jobs", json=job_body(points=10), headers=headers)
    again = client.post("/v1/jobs", json=job_body(points=10), headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json()["id"] == first.get_json()["id"]
    assert client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).status_code == 429


def test_concurrent_submissions_cannot_both_take_the_last_slot(make_app, sessions, account):
    app = make_app(PLANS="free:jobs_per_day=3,concurrent_jobs=100")
    barrier = threading.Barrier(12)

    def submit() -> int:
        client = app.test_client()
        barrier.wait()
        return client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = sorted(pool.map(lambda _: submit(), range(12)))
    assert statuses == [202] * 3 + [429] * 9
    with sessions() as session:  # refused submissions leave no job and no held credits behind
        assert session.scalar(select(func.count()).select_from(Job).where(Job.account_id == account.account_id)) == 3
        assert (
            session.scalar(
                select(func.count()).select_from(CreditHold).where(CreditHold.account_id == account.account_id)
            )
            == 3
        )


def test_concurrent_jobs_quota_frees_up_when_a_job_finishes(make_app, account):
    client = make_app(PLANS="free:concurrent_jobs=1").test_client()
    first = client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).get_json()["id"]
    blocked = client.post("/v1/jobs", json=job_body(points=10), headers=account.headers)
    assert blocked.status_code == 429 and blocked.headers["Retry-After"] == "5"
    assert client.post(f"/v1/jobs/{first}/cancel", headers=account.headers).status_code == 200
    assert client.post("/v1/jobs", json=job_body(points=10), headers=account.headers).status_code == 202


def test_oversized_fields_and_pages_are_refused(client, account):
    token = bearer(sign_in(client, account)["access_token"])
    assert client.post("/v1/api-keys", json={"name": "n" * 201}, headers=token).status_code == 422
    assert client.get("/v1/account/audit-events?limit=1000", headers=token).status_code == 422
    assert client.get("/v1/jobs?limit=1000", headers=account.headers).status_code == 422
    huge_password = {"email": account.email, "password": "p" * 5000}
    assert client.post("/v1/auth/token", json=huge_password).status_code == 422


def _bad_numbers_body(count: int) -> bytes:
    numbers = b",".join([b"true"] * count)
    return b'{"type":"anomaly_detection","data":{"timestamps":[1],"metrics":{"cpu":[' + numbers + b"]}}}"


def test_a_list_of_millions_of_bad_numbers_is_refused_naming_the_first(client, account):
    response = client.post(
        "/v1/jobs", data=_bad_numbers_body(1_900_000), headers=account.headers, content_type="application/json"
    )
    assert response.status_code == 422
    assert [error["field"] for error in response.get_json()["errors"]] == ["data.metrics.cpu[0]"]


def test_an_object_with_more_members_than_any_request_has_is_refused_before_validation(client):
    crowded = {f"field{index}": 1 for index in range(300_000)}
    response = client.post("/v1/auth/token", json=crowded)
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"field": "(body)", "message": "has 300000 members; no object in a request may have more than 1000"}
    ]


def test_a_job_with_too_many_metrics_is_refused_naming_the_crowded_object(client, account):
    body = job_body(points=1)
    body["data"]["metrics"] = {f"disk{index}": [1.0] for index in range(30_000)}
    response = client.post("/v1/jobs", json=body, headers=account.headers)
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] == "data.metrics"


def test_twenty_problems_are_listed_and_the_rest_counted(client):
    response = client.post("/v1/auth/token", json={f"field{index}": 1 for index in range(30)})
    assert response.status_code == 422
    problem = response.get_json()
    assert len(problem["errors"]) == 20
    assert "32 problems; the first 20 are listed" in problem["detail"]  # 30 unknown, email and password missing


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_with_redis_down_the_api_serves_limits_hold_per_process_and_readiness_fails(make_app, account):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", PLANS=TIGHT)
    client, collected, logger = app.test_client(), _Collect(), logging.getLogger("smartcompute.web")
    logger.addHandler(collected)
    try:
        statuses = [client.get("/v1/jobs", headers=account.headers).status_code for _ in range(4)]
    finally:
        logger.removeHandler(collected)
    assert statuses == [200, 200, 200, 429]
    assert any("rate-limit storage (Redis) unreachable" in message for message in collected.messages)
    ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["redis"] == "unavailable"


def _junk_signed_ipn(size: int) -> bytes:
    """What the test found: an IPN of nested arrays of numbers, signed with nothing, costing seconds of CPU to
    parse and canonicalise (twice) before its signature was checked."""
    unit = b"[1.5e-7,12345678901234567890,"
    depth = 90
    body = b'{"payment_id":1,"payment_status":"finished","x":' + b"[" * depth
    body += unit * ((size - len(body) - 2 * depth - 2) // len(unit)) + b"0" + b"]" * depth + b"}"
    return body + b" " * (size - len(body))  # exactly `size` bytes


def test_a_junk_signed_ipn_larger_than_any_real_one_is_413_before_it_is_read(client, sessions):
    from smartcompute.billing.models import WebhookEvent

    headers = {"Content-Type": "application/json", "x-nowpayments-sig": "0" * 128}
    for size in (10 * 1024 * 1024, 16 * 1024 + 1):
        response = client.post("/v1/webhooks/payments/nowpayments", data=_junk_signed_ipn(size), headers=headers)
        assert response.status_code == 413 and response.mimetype == "application/problem+json", size
    just_under = client.post("/v1/webhooks/payments/nowpayments", data=_junk_signed_ipn(16 * 1024), headers=headers)
    assert just_under.status_code == 401  # read, canonicalised once in linear time, and refused
    with sessions() as session:
        assert (
            session.query(WebhookEvent)
            .filter(WebhookEvent.provider == "nowpayments", WebhookEvent.raw_body.like(b"%12345678901234567890%"))
            .count()
            == 0
        )


def test_every_provider_refuses_a_body_over_its_limit_with_413(client, settings):
    from tests.billing.signing import SECRET_SETTINGS, body_for, headers_for

    for provider in SECRET_SETTINGS:
        body = body_for(provider, payment_id="p", status="pending")[:-1] + b', "pad": "' + b"x" * 70_000 + b'"}'
        headers = headers_for(provider, getattr(settings, SECRET_SETTINGS[provider]), body)
        assert client.post(f"/v1/webhooks/payments/{provider}", data=body, headers=headers).status_code == 413, provider


def test_webhook_deliveries_are_limited_per_address_and_a_flood_does_not_stop_the_provider(make_app, settings):
    from tests.billing.signing import body_for, headers_for

    client = make_app(WEBHOOK_RATE_LIMIT_PER_ADDRESS="5/minute", ANONYMOUS_RATE_LIMIT="1/minute").test_client()
    junk = {"Content-Type": "application/json", "x-nowpayments-sig": "0" * 128}
    flood = [
        client.post(
            "/v1/webhooks/payments/nowpayments",
            data=_junk_signed_ipn(16 * 1024),
            headers=junk,
            environ_base={"REMOTE_ADDR": "203.0.113.66"},
        )
        for _ in range(7)
    ]
    assert [response.status_code for response in flood] == [401] * 5 + [429] * 2
    _assert_rate_limited(flood[-1])
    assert flood[0].headers["RateLimit-Policy"] == '"webhook";q=5;w=60'
    # The provider, at its own address, is neither limited by the flood nor by the anonymous limit.
    for _ in range(3):
        body = body_for("generic", payment_id="p-1", status="pending")
        delivered = client.post(
            "/v1/webhooks/payments/generic",
            data=body,
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
            headers=headers_for("generic", settings.PAYMENT_WEBHOOK_SECRET, body),
        )
        assert delivered.status_code == 200
