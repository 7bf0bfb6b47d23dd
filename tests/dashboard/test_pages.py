"""The dashboard's pages through Flask's test client, for what needs no browser: the sign-in limits, problems
shown beside the submit form, each job type's page, the downloads and where an open incident is drawn."""

from __future__ import annotations

import io
import re
import uuid

import numpy as np
import pytest

from smartcompute import analysis
from smartcompute.accounts.models import User
from smartcompute.jobs import lifecycle
from tests.conftest import make_account
from tests.dashboard.test_dashboard import planted_incident_csv
from web.dashboard.charts import LEFT, RIGHT, WIDTH, metric_chart

_TOKEN = re.compile(rb'name="csrf_token" value="([^"]+)"')


def _token(client) -> str:
    return _TOKEN.search(client.get("/app/sign-in").data).group(1).decode()


def _sign_in(client, account, password: str | None = None):
    return client.post(
        "/app/sign-in",
        data={"email": account.email, "password": password or account.password, "csrf_token": _token(client)},
    )


@pytest.fixture
def signed_in(app, account):
    client = app.test_client()
    assert _sign_in(client, account).status_code == 303
    return client


def _submit(client, job_type: str, body: bytes, name: str = "telemetry.csv"):
    token = _TOKEN.search(client.get("/app/submit").data).group(1).decode()
    return client.post(
        "/app/submit",
        data={
            "csrf_token": token,
            "type": job_type,
            "priority": "normal",
            "host": "web-1",
            "file": (io.BytesIO(body), name),
        },
    )


def _run_newest_job(client, sessions) -> str:
    """Do what a worker does with the newest job: claim it, analyse it, store the result."""
    job_id = re.search(rb'data-job-id="([^"]+)"', client.get("/app/jobs").data).group(1).decode()
    with sessions() as session:
        claimed = lifecycle.claim(session, uuid.UUID(job_id), max_attempts=3)
        done = analysis.analyze(claimed.type, claimed.data, max_points=100_000)
        lifecycle.succeed(session, uuid.UUID(job_id), done.result, baseline=done.baseline)
        session.commit()
    return job_id


def test_sign_in_from_the_dashboard_shares_the_api_sign_in_limits(base_env, account):
    from web import create_app

    strict = create_app(
        {
            **base_env,
            "LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS": "2/minute",
            "RATE_LIMIT_KEY_PREFIX": f"{base_env['RATE_LIMIT_KEY_PREFIX']}-{uuid.uuid4().hex[:8]}",
        }
    )
    client = strict.test_client()
    assert [_sign_in(client, account, "not-the-password").status_code for _ in range(2)] == [401, 401]
    refused = _sign_in(client, account)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert b"too many requests" in refused.data and refused.mimetype == "text/html"


def test_a_csv_the_api_refuses_is_shown_beside_the_form_field_by_field(signed_in):
    answer = _submit(signed_in, "anomaly_detection", b"timestamp,cpu_percent\n2026-12-01T00:00:00Z,high\n")
    assert answer.status_code == 422
    assert b"line 2: cpu_percent &#39;high&#39; is not a number" in answer.data
    answer = _submit(signed_in, "anomaly_detection", b"timestamp,cpu_percent\nyesterday,1\n")
    assert answer.status_code == 422
    assert re.search(rb"<code>data.timestamps\[0\]</code> [^<]*ISO-8601", answer.data)


def test_a_performance_job_shows_percentiles_saturation_and_recommendations(signed_in, sessions):
    assert _submit(signed_in, "performance_analysis", planted_incident_csv()).status_code == 303
    page = signed_in.get(f"/app/jobs/{_run_newest_job(signed_in, sessions)}").data.decode()
    assert "Percentiles" in page and "<td>cpu_percent</td>" in page
    assert re.search(r"<td>cpu_percent</td><td>2026-12-01 03:00:00 UTC</td>", page)  # the saturation episode
    assert "add capacity" in page


def test_a_threat_job_says_what_it_could_not_check(signed_in, sessions):
    assert _submit(signed_in, "threat_analysis", planted_incident_csv()).status_code == 303
    page = signed_in.get(f"/app/jobs/{_run_newest_job(signed_in, sessions)}").data.decode()
    assert "nothing suspicious found" in page
    assert "port scan: needs connections" in page


def test_an_anomaly_job_downloads_its_scores_as_csv_and_its_result_as_json(signed_in, sessions):
    assert _submit(signed_in, "anomaly_detection", planted_incident_csv()).status_code == 303
    job_id = _run_newest_job(signed_in, sessions)
    scores = signed_in.get(f"/app/jobs/{job_id}/scores.csv")
    lines = scores.data.decode().splitlines()
    assert lines[0] == "timestamp,cpu_percent,memory_percent" and len(lines) == 301
    assert "attachment" in scores.headers["Content-Disposition"]
    assert signed_in.get(f"/app/jobs/{job_id}/result.json").json["summary"]["incidents"] == 1


def test_an_open_incident_is_shaded_to_the_right_edge():
    times = np.arange(100, dtype=float) * 60 + 1_796_083_200
    incident = {
        "start": "2026-12-01T01:00:00Z",
        "end": None,
        "status": "open",
        "severity": "high",
        "kind": "level_shift",
        "metrics": ["cpu_percent"],
    }
    chart = metric_chart("cpu_percent", times, np.ones(100), np.zeros(100), [incident])
    [shade] = chart.shades
    assert shade.x == pytest.approx(LEFT + (WIDTH - LEFT - RIGHT) * 60 / 99, abs=0.2)
    assert shade.x + shade.width == pytest.approx(WIDTH - RIGHT, abs=0.2)


def _form_token(client, path: str) -> str:
    return _TOKEN.search(client.get(path).data).group(1).decode()


def test_an_owner_invites_a_member_and_changes_a_role_from_the_members_page(signed_in, sessions, account):
    viewer = make_account(sessions, role="viewer", account_of=account)
    token = _form_token(signed_in, "/app/members")
    assert (
        signed_in.post(
            "/app/members/invite", data={"csrf_token": token, "email": "new@example.test", "role": "analyst"}
        ).status_code
        == 303
    )
    assert (
        signed_in.post(f"/app/members/{viewer.user_id}/role", data={"csrf_token": token, "role": "analyst"}).status_code
        == 303
    )
    page = signed_in.get("/app/members").data.decode()
    assert re.search(r"<td>new@example.test</td><td>analyst</td>", page)
    with sessions() as session:
        assert session.get(User, viewer.user_id).role == "analyst"


def test_staff_see_the_dead_payment_events_and_an_owner_is_refused_them(app, signed_in, sessions):
    assert signed_in.get("/app/staff/payment-events").status_code == 403
    staff = make_account(sessions)
    with sessions() as session:
        session.get(User, staff.user_id).is_staff = True
        session.commit()
    client = app.test_client()
    _sign_in(client, staff)
    page = client.get("/app/staff/payment-events")
    assert page.status_code == 200 and b"Dead-lettered payment events" in page.data


def test_the_session_cookie_is_secure_over_tls_and_absent_from_the_api(app, account):
    client = app.test_client()
    over_tls = client.get("/app/sign-in", base_url="https://dashboard.example.test")
    assert "; Secure" in over_tls.headers["Set-Cookie"] and "HttpOnly" in over_tls.headers["Set-Cookie"]
    plain = client.get("/app/sign-in")
    assert "; Secure" not in plain.headers["Set-Cookie"]
    assert "Set-Cookie" not in client.get("/v1/jobs", headers=account.headers).headers
