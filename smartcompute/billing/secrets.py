"""Secret references in settings, resolved once at start-up.

A payment secret setting may be a plain value (development) or a reference:
- `vault:<path>#<key>`: HashiCorp Vault KV v2 (or OpenBao) at VAULT_ADDR with VAULT_TOKEN, mount VAULT_KV_MOUNT;
- `aws-sm:<secret id>#<key>`: AWS Secrets Manager, a JSON secret string, in AWS_SECRETS_REGION (endpoint
  AWS_SECRETS_ENDPOINT_URL if set; credentials from boto3's usual chain).
A reference that cannot be resolved stops start-up with one line naming the setting and the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from config import ConfigError, Settings
from config import billing_settings
from config.settings import PAYMENT_SECRET_SETTINGS

_VALIDATE: dict[str, Callable[[str], str]] = {
    "STANDARD_WEBHOOKS_SECRET": billing_settings.standard_webhooks_secret,
    "PAYMENT_WEBHOOK_SECRET": billing_settings.webhook_secret,
    "COINBASE_COMMERCE_WEBHOOK_SECRET": billing_settings.webhook_secret,
    "BTCPAY_WEBHOOK_SECRET": billing_settings.webhook_secret,
    "NOWPAYMENTS_IPN_SECRET": billing_settings.webhook_secret,
}


def resolve_settings(settings: Settings) -> Settings:
    """Settings with every secret reference replaced by its value."""
    resolved = {}
    for name in PAYMENT_SECRET_SETTINGS:
        value = getattr(settings, name)
        if not value or not billing_settings.is_secret_reference(value):
            continue
        try:
            secret = resolve_reference(settings, value)
            resolved[name] = _VALIDATE.get(name, str)(secret)
        except ValueError as error:
            raise ConfigError(f"{name}: {value} could not be resolved: {error}") from None
    return settings.model_copy(update=resolved) if resolved else settings


def resolve_reference(settings: Settings, reference: str) -> str:
    scheme, _, rest = reference.partition(":")
    location, _, key = rest.rpartition("#")
    values = _vault(settings, location) if scheme == "vault" else _aws(settings, location)
    if key not in values or not isinstance(values[key], str) or not values[key]:
        raise ValueError(f"the secret has no string {key!r}")
    return values[key]


def _vault(settings: Settings, path: str) -> dict:
    import hvac
    from hvac.exceptions import VaultError
    from requests.exceptions import RequestException

    if not settings.VAULT_ADDR or not settings.VAULT_TOKEN:
        raise ValueError("VAULT_ADDR and VAULT_TOKEN must be set to read vault: references")
    client = hvac.Client(url=settings.VAULT_ADDR, token=settings.VAULT_TOKEN, timeout=5)
    try:
        response = client.secrets.kv.v2.read_secret_version(
            path=path, mount_point=settings.VAULT_KV_MOUNT, raise_on_deleted_version=True
        )
    except (VaultError, RequestException) as error:
        raise ValueError(
            f"Vault: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}"
        ) from None
    return response["data"]["data"]


def _aws(settings: Settings, secret_id: str) -> dict:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "secretsmanager", region_name=settings.AWS_SECRETS_REGION, endpoint_url=settings.AWS_SECRETS_ENDPOINT_URL
    )
    try:
        secret = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except (BotoCoreError, ClientError, KeyError) as error:
        raise ValueError(f"AWS Secrets Manager: {error}") from None
    try:
        values = json.loads(secret)
    except ValueError:
        raise ValueError("the secret string is not a JSON object") from None
    if not isinstance(values, dict):
        raise ValueError("the secret string is not a JSON object")
    return values


def webhook_secrets(settings: Settings) -> dict[str, str | None]:
    """Resolved secrets by provider URL name (what `configured_providers` takes)."""
    return {
        "generic": settings.PAYMENT_WEBHOOK_SECRET,
        "coinbase-commerce": settings.COINBASE_COMMERCE_WEBHOOK_SECRET,
        "btcpay": settings.BTCPAY_WEBHOOK_SECRET,
        "nowpayments": settings.NOWPAYMENTS_IPN_SECRET,
        "standard-webhooks": settings.STANDARD_WEBHOOKS_SECRET,
    }
