"""API7:2023 Server Side Request Forgery: a job's callback_url is the one URL a customer makes us fetch.

Addresses and names that reach this machine or its network are refused when the job is submitted, and again
when the callback is sent (tests/jobs/test_callbacks.py: names that resolve to them, redirects, the address
connected to). An operator whose receivers are all internal can allow them: CALLBACK_PRIVATE_NETWORKS."""

from __future__ import annotations

import pytest

from tests.support import job_body

INTERNAL = [
    "http://127.0.0.1:5432/",
    "http://localhost:6379/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:15672/api/users",
    "http://10.0.0.1/admin",
    "http://192.168.1.1/",
    "http://0x7f000001/",
    "http://2130706433/",
    "http://127.1/",
    "http://0177.0.0.1/",
    "http://\uff11\uff12\uff17.0.0.1/",
    "http://LOCALHOST./",
    "http://[fd00::1]/x",
    "http://metadata.google.internal/computeMetadata/v1/",
    # IPv6 forms that carry a private IPv4 address, and the deprecated IPv4-compatible form
    "http://[::127.0.0.1]:5432/",
    "http://[::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b::169.254.169.254]/latest/meta-data/",
    "http://[64:ff9b::7f00:1]:6379/",
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",
    "http://[2002:c0a8:101::1]/",
]


@pytest.mark.parametrize("url", INTERNAL)
def test_a_callback_to_an_internal_address_is_refused_and_no_job_is_made(client, account, url):
    response = client.post("/v1/jobs", json={**job_body(), "callback_url": url}, headers=account.headers)
    assert response.status_code == 422, url
    problem = response.get_json()
    assert problem["errors"][0]["field"] == "callback_url"
    assert "private, loopback or link-local" in problem["errors"][0]["message"]
    assert client.get("/v1/jobs", headers=account.headers).get_json()["items"] == []


def test_an_operator_can_allow_internal_receivers(make_app, account):
    client = make_app(CALLBACK_PRIVATE_NETWORKS="true").test_client()
    response = client.post(
        "/v1/jobs", json={**job_body(), "callback_url": "http://10.0.0.7/hooks"}, headers=account.headers
    )
    assert response.status_code == 202 and response.get_json()["callback"]["url"] == "http://10.0.0.7/hooks"
