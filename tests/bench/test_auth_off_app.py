"""The auth benchmark's baseline app: only bench/ can build an API that serves requests without credentials."""

from __future__ import annotations

import pytest

from bench.auth_off_app import create_app as create_auth_off_app
from web import create_app


@pytest.fixture
def environment(monkeypatch, base_env, account):
    for name, value in {**base_env, "BENCH_USER_ID": str(account.user_id)}.items():
        monkeypatch.setenv(name, value)


def test_the_bench_app_serves_the_bench_user_without_credentials(environment):
    response = create_auth_off_app().test_client().get("/v1/jobs")
    assert response.status_code == 200


def test_the_production_app_built_from_the_same_environment_asks_for_credentials(environment):
    response = create_app().test_client().get("/v1/jobs")
    assert response.status_code == 401
