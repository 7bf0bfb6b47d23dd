"""The operator CLI: users, API keys and credits, and its one-line errors."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

SMARTCOMPUTE = str(Path(sys.executable).with_name("smartcompute"))


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [SMARTCOMPUTE, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DATABASE_URL": env["DATABASE_URL"]},
        timeout=60,
    )


def test_creating_a_user_and_an_api_key_prints_the_key_alone(base_env, client):
    email = f"ops-{uuid.uuid4().hex[:8]}@example.test"
    created = run(["users", "create", email, "--role", "analyst", "--password-stdin"], base_env, "a-long-password-1\n")
    assert created.returncode == 0, created.stderr
    key = run(["api-keys", "create", email], base_env)
    assert key.returncode == 0
    assert key.stdout.count("\n") == 1 and key.stdout.startswith("sck_")
    assert client.get("/v1/jobs", headers={"X-API-Key": key.stdout.strip()}).status_code == 200
    token = client.post("/v1/auth/token", json={"email": email, "password": "a-long-password-1"})
    assert token.status_code == 200


def test_an_owner_key_with_billing_scopes_reads_the_balance_and_nothing_else(base_env, client):
    email = f"owner-{uuid.uuid4().hex[:8]}@example.test"
    assert run(["users", "create", email], base_env).returncode == 0
    key = run(["api-keys", "create", email, "--scope", "billing:read"], base_env).stdout.strip()
    assert client.get("/v1/billing/balance", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/v1/jobs", headers={"X-API-Key": key}).status_code == 403


def test_an_unknown_scope_is_refused_by_name(base_env):
    result = run(["api-keys", "create", "someone@example.test", "--scope", "root"], base_env)
    assert result.returncode == 2 and "'root' is not one of" in result.stderr


def test_a_duplicate_user_is_a_one_line_error(base_env):
    email = f"dup-{uuid.uuid4().hex[:8]}@example.test"
    run(["users", "create", email], base_env)
    again = run(["users", "create", email], base_env)
    assert again.returncode == 1
    assert again.stderr.strip() == f"Error: a user with email {email} already exists"


def test_a_key_for_an_unknown_user_is_a_one_line_error(base_env):
    result = run(["api-keys", "create", "nobody@example.test"], base_env)
    assert result.returncode == 1 and result.stderr.count("\n") == 1


def test_a_missing_database_url_is_named(base_env):
    result = subprocess.run(
        [SMARTCOMPUTE, "users", "create", "x@example.test"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: DATABASE_URL: is required but not set"


def test_a_negative_grant_takes_credits_back(base_env):
    email = f"grant-{uuid.uuid4().hex[:8]}@example.test"
    run(["users", "create", email], base_env)
    assert run(["credits", "grant", email, "100"], base_env).stdout.strip() == "100"
    taken = run(["credits", "grant", email, "-30", "--note", "refund"], base_env)
    assert taken.returncode == 0 and taken.stdout.strip() == "70"


def test_a_grant_beyond_what_the_ledger_holds_is_a_one_line_error(base_env):
    email = f"huge-{uuid.uuid4().hex[:8]}@example.test"
    run(["users", "create", email], base_env)
    assert run(["credits", "grant", email, str(2**63 - 1)], base_env).returncode == 0
    more = run(["credits", "grant", email, "1"], base_env)
    assert more.returncode == 1 and more.stderr.strip() == "Error: the database refused it: bigint out of range"


def test_an_unreachable_database_is_a_one_line_error(base_env):
    result = run(["users", "create", "x@example.test"], {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"})
    assert result.returncode == 1
    assert result.stderr.startswith("Error: cannot reach the database: ") and result.stderr.count("\n") == 1
