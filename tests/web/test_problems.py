"""Every error is RFC 9457 problem+json with the right status, and never a stack trace."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_account
from tests.support import job_body

PROBLEM = "application/problem+json"


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["type"].startswith("/problems/")
    assert "Traceback" not in response.get_data(as_text=True)
    return body


def test_malformed_json_is_400(client, account):
    response = client.post("/v1/jobs", data="{not json", content_type="application/json", headers=account.headers)
    assert_problem(response, 400)


@pytest.mark.parametrize(
    "body, reason",
    [
        ('{"type": "anomaly_detection", "data": {', "EOF while parsing an object at line 1 column 39"),
        ("[" * 1000 + "]" * 1000, "recursion limit exceeded"),
        (" " * (70 * 1024) + "{]", "at line 1 column 71682"),  # large enough for the member check, which lets it by
    ],
    ids=["cut short", "nested too deeply", "large"],
)
def test_a_body_that_does_not_parse_is_400_saying_where_and_why(client, account, body, reason):
    response = client.post("/v1/jobs", data=body, content_type="application/json", headers=account.headers)
    detail = assert_problem(response, 400)["detail"]
    assert detail.startswith("the body is not valid JSON: ") and reason in detail


def test_wrong_content_type_is_415(client, account):
    response = client.post("/v1/jobs", data=json.dumps(job_body()), content_type="text/plain", headers=account.headers)
    assert_problem(response, 415)


def test_a_missing_field_is_422_naming_it(client, account):
    response = client.post("/v1/jobs", json={"data": job_body()["data"]}, headers=account.headers)
    body = assert_problem(response, 422)
    assert {"field": "type", "message": "Field required"} in body["errors"]


@pytest.mark.parametrize(
    "field, value, expected_field",
    [
        ("type", "magic", "type"),
        ("priority", "urgent", "priority"),
        ("extra", 1, "extra"),
    ],
)
def test_schema_violations_are_422_naming_the_field(client, account, field, value, expected_field):
    body = {**job_body(), field: value}
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert expected_field in [error["field"] for error in problem["errors"]]


def test_mismatched_metric_length_is_422_naming_the_metric(client, account):
    body = job_body(points=20)
    body["data"]["metrics"]["cpu_percent"] = body["data"]["metrics"]["cpu_percent"][:-1]
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"][0]["field"] == "data.metrics.cpu_percent"
    assert "19 values" in problem["errors"][0]["message"]


def test_repeated_or_out_of_order_timestamps_are_accepted(client, account):
    """Real telemetry has both (a clock change, a late delivery): the engine scores them in order and says so."""
    body = job_body(points=20)
    body["data"]["timestamps"][5] = body["data"]["timestamps"][4]
    body["data"]["timestamps"][9], body["data"]["timestamps"][10] = (
        body["data"]["timestamps"][10],
        body["data"]["timestamps"][9],
    )
    assert client.post("/v1/jobs", json=body, headers=account.headers).status_code == 202


def test_nan_values_are_422(client, account):
    raw = json.dumps(job_body(points=5)).replace(str(job_body(points=5)["data"]["metrics"]["cpu_percent"][2]), "NaN", 1)
    response = client.post("/v1/jobs", data=raw, content_type="application/json", headers=account.headers)
    problem = assert_problem(response, 422)
    assert any("cpu_percent" in error["field"] for error in problem["errors"])


def test_too_many_points_is_422(app, client, account):
    limit = app.extensions["smartcompute"].settings.MAX_POINTS_PER_JOB
    body = {
        "type": "anomaly_detection",
        "data": {"timestamps": list(range(limit + 1)), "metrics": {"cpu": [1.0] * (limit + 1)}},
    }
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"][0]["field"] == "data.timestamps"


def test_more_metrics_than_a_job_may_hold_is_422(client, account):
    body = job_body(points=2)
    body["data"]["metrics"] = {f"disk{index}": [1.0, 2.0] for index in range(1001)}
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"][0]["field"] == "data.metrics"


def test_a_metric_name_over_255_characters_is_422_naming_it(client, account):
    body = job_body(points=2)
    body["data"]["metrics"] = {"m" * 256: [1.0, 2.0]}
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"] == [
        {"field": f"data.metrics.{'m' * 256}[key]", "message": "String should have at most 255 characters"}
    ]


def test_a_body_over_the_limit_is_413(app, client, account):
    limit = app.extensions["smartcompute"].settings.MAX_CONTENT_LENGTH
    response = client.post(
        "/v1/jobs", data=b"[" + b"1," * (limit // 2) + b"1]", content_type="application/json", headers=account.headers
    )
    assert_problem(response, 413)


def test_no_credentials_is_401(client):
    assert_problem(client.get("/v1/jobs"), 401)


def test_a_wrong_api_key_is_401(client, account):
    last = "y" if account.api_key.endswith("x") else "x"
    assert_problem(client.get("/v1/jobs", headers={"X-API-Key": account.api_key[:-1] + last}), 401)


def test_a_wrong_method_is_405_with_allow(client, account):
    response = client.delete("/v1/jobs", headers=account.headers)
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_an_unknown_path_is_404(client):
    assert_problem(client.get("/v2/nothing"), 404)


# PostgreSQL cannot store U+0000 in text: a request carrying it is refused up front, never a 500 later.
NUL_MESSAGE = "must not contain the NUL character (\\u0000)"


def _jobs_of(sessions, account) -> int:
    from sqlalchemy import func, select

    from smartcompute.jobs.models import Job

    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.account_id == account.account_id))


def test_a_nul_character_in_a_job_is_422_naming_the_field_and_nothing_is_stored(client, sessions, account):
    body = job_body(points=10, host="web\x00-1")
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"] == [{"field": "data.host", "message": NUL_MESSAGE}]
    assert _jobs_of(sessions, account) == 0


def test_every_nul_in_a_body_is_named_metric_names_and_nested_text_included(client, account):
    body = job_body(job_type="threat_analysis", points=10)
    body["data"]["metrics"]["disk\x00io"] = body["data"]["metrics"]["cpu_percent"]
    body["data"]["processes"] = [
        {
            "timestamp": body["data"]["timestamps"][0],
            "name": "bash",
            "cmdline": "bash\x00-i",
            "user": "root",
            "cpu_percent": 1.0,
            "memory_percent": 1.0,
        }
    ]
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert sorted(error["field"] for error in problem["errors"]) == ["data.metrics", "data.processes[0].cmdline"]


def test_an_escaped_backslash_before_u0000_is_ordinary_text(client, account):
    response = client.post("/v1/jobs", json=job_body(points=10, host="C:\\u0000"), headers=account.headers)
    assert response.status_code == 202


def test_a_nul_character_in_a_sign_in_email_is_422_not_500(client, account):
    response = client.post("/v1/auth/token", json={"email": account.email + "\x00", "password": account.password})
    assert assert_problem(response, 422)["errors"] == [{"field": "email", "message": NUL_MESSAGE}]


def test_a_nul_character_in_a_search_is_422_naming_the_parameter(client, account):
    from tests.security.conftest import bearer, sign_in

    token = bearer(sign_in(client, account)["access_token"])
    problem = assert_problem(client.get("/v1/account/members?q=a%00b", headers=token), 422)
    assert problem["errors"] == [{"field": "q", "message": NUL_MESSAGE}]


@pytest.mark.parametrize("timestamp", [1e300, -1e18, "0001-01-01T00:00:00+15:00"])
def test_a_timestamp_no_result_could_name_is_422_before_the_job_is_queued(client, sessions, account, timestamp):
    body = job_body(points=10)
    body["data"]["timestamps"][0] = timestamp
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"][0] == {
        "field": "data.timestamps[0]",
        "message": "must be a time from year 1 to 9999 (UTC)",
    }
    assert _jobs_of(sessions, account) == 0


def test_a_value_a_metric_cannot_have_is_422_before_a_threat_or_performance_job_is_queued(client, sessions, account):
    for job_type in ("threat_analysis", "performance_analysis"):
        body = job_body(job_type=job_type, points=10)
        body["data"]["metrics"]["cpu_percent"][3] = -1.0
        problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
        assert problem["errors"] == [
            {"field": "data.metrics.cpu_percent[3]", "message": "cpu cannot be negative (got -1)"}
        ]
    assert _jobs_of(sessions, account) == 0


def test_an_anomaly_job_takes_any_finite_values(client, account):
    body = job_body(points=10)
    body["data"]["metrics"]["cpu_percent"][3] = -1.0
    assert client.post("/v1/jobs", json=body, headers=account.headers).status_code == 202


def _new_key(client, account, expires_at):
    from tests.security.conftest import bearer, sign_in

    token = bearer(sign_in(client, account)["access_token"])
    return client.post("/v1/api-keys", json={"name": "ci", "expires_at": expires_at}, headers=token)


def test_a_key_expiry_with_any_utc_offset_is_kept_in_utc(client, account):
    created = _new_key(client, account, "2030-01-01T00:00:00+20:05")
    assert created.status_code == 201
    assert created.get_json()["expires_at"] == "2029-12-31T03:55:00+00:00"


@pytest.mark.parametrize(
    "expires_at, message",
    [
        ("2030-01-01T00:00:00", "Input should have timezone info"),
        ("9999-12-31T23:59:59-15:00", "Value error, must be a time from year 1 to 9999 in UTC"),
        ("2000-01-01T00:00:00Z", "expires_at must be in the future"),
    ],
)
def test_a_key_expiry_that_cannot_be_kept_is_422_naming_it(client, account, expires_at, message):
    problem = assert_problem(_new_key(client, account, expires_at), 422)
    assert problem["errors"] == [{"field": "expires_at", "message": message}]


def test_a_request_stuck_behind_a_database_lock_is_503_once_the_statement_timeout_passes(
    settings, account, database_url
):
    """A migration or a stuck transaction holds a lock the request needs: it is answered, not left hanging until
    gunicorn kills the process with every request on it, and nothing of it is stored."""
    import threading

    from sqlalchemy import create_engine, text

    from web import create_app

    client = create_app(settings.model_copy(update={"DATABASE_STATEMENT_TIMEOUT": 1})).test_client()
    engine = create_engine(database_url)
    answered = {}
    try:
        with engine.connect() as holder:  # the account's credit row, which a submission updates
            holder.execute(
                text("SELECT 1 FROM credit_balances WHERE account_id = :id FOR UPDATE"), {"id": account.account_id}
            )
            submitting = threading.Thread(
                target=lambda: answered.update(
                    response=client.post("/v1/jobs", json=job_body(), headers=account.headers)
                )
            )
            submitting.start()
            submitting.join(10)
            holder.rollback()
        submitting.join(10)
    finally:
        engine.dispose()
    problem = assert_problem(answered["response"], 503)
    assert problem["detail"] == "the database did not answer in time; try again shortly"
    assert answered["response"].headers["Retry-After"] == "5"
    assert client.get("/v1/jobs", headers=account.headers).get_json()["items"] == []


def test_database_down_is_503(settings, account):

    from web import create_app

    unreachable = settings.model_copy(update={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/nowhere"})
    response = create_app(unreachable).test_client().get("/v1/jobs", headers=account.headers)
    assert_problem(response, 503)


def test_after_a_database_restart_the_api_answers_its_next_requests(settings, own_database):
    """A restart or failover ends the API's pooled connections: they are replaced, and no request gets a 503."""

    from web import create_app

    account = make_account(own_database.sessions)
    client = create_app(settings.model_copy(update={"DATABASE_URL": own_database.url})).test_client()
    submitted = client.post("/v1/jobs", json=job_body(), headers=account.headers)
    assert submitted.status_code == 202
    own_database.cut_connections()
    listing = client.get("/v1/jobs", headers=account.headers)
    assert listing.status_code == 200
    assert [job["id"] for job in listing.get_json()["items"]] == [submitted.get_json()["id"]]
    assert client.post("/v1/jobs", json=job_body(), headers=account.headers).status_code == 202


@pytest.mark.parametrize("value", [True, "1.5"])
def test_a_metric_value_that_is_not_a_json_number_is_422_naming_it(client, account, sessions, value):
    """A boolean or a numeric string among the samples is a client's bug: it is refused, not analysed as 1 or 1.5."""
    body = job_body()
    body["data"]["metrics"]["cpu_percent"][3] = value
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert problem["errors"] == [{"field": "data.metrics.cpu_percent[3]", "message": "Input should be a valid number"}]
    assert _jobs_of(sessions, account) == 0


def test_an_unnamed_metric_is_422_naming_it(client, account):
    # A fuzzer's case: an unnamed metric with no values against one timestamp, once let through to the engine.
    body = {
        "type": "threat_analysis",
        "priority": "normal",
        "callback_url": None,
        "data": {"host": None, "timestamps": [0.0], "metrics": {"": []}, "connections": None, "processes": None},
    }
    problem = assert_problem(client.post("/v1/jobs", json=body, headers=account.headers), 422)
    assert [error["field"] for error in problem["errors"]] == ["data.metrics.[key]"]
