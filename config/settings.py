"""The one place SmartCompute reads its settings from the environment.

Each setting is one line: its name, how it is parsed, and its default (or `REQUIRED`). Tests and tools
build `Settings` from a plain dict; nothing here runs at import time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

from config import billing_settings as billing
from config.plans import DEFAULT_PLANS, PlanLimits, parse_plans, rate_limit, rate_limits
from smartcompute.numbers import whole_number

REQUIRED = object()
_DEFAULT_JOB_PRICES = "anomaly_detection=1+1,threat_analysis=2+1,performance_analysis=1+1"
_DEFAULT_PACKS = "starter:1000:10,standard:5500:50,large:12000:100"
_DEFAULT_PLANS = "pro:25000:200,enterprise:150000:1000"
# Settings that only the API (webhook verification, provider clients) may hold; the core worker drops them.
PAYMENT_SECRET_SETTINGS = (
    "PAYMENT_WEBHOOK_SECRET", "COINBASE_COMMERCE_WEBHOOK_SECRET", "BTCPAY_WEBHOOK_SECRET", "NOWPAYMENTS_IPN_SECRET",
    "STANDARD_WEBHOOKS_SECRET", "COINBASE_COMMERCE_API_KEY", "BTCPAY_API_KEY", "NOWPAYMENTS_API_KEY", "VAULT_TOKEN",
)


# RFC 7518, section 3.2: an HMAC key at least as long as the hash's output, 256 bits for HS256 tokens.
HS256_KEY_BYTES = 32


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line naming it."""


def _database_url(value: str) -> str:
    # PaaS hand out postgres://; SQLAlchemy only knows postgresql://.
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://"):]
    if not value.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise ValueError("must be a postgresql:// URL")
    return value


def _broker_url(value: str) -> str:
    if urlsplit(value).scheme not in {"redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp"}:
        raise ValueError("must be a redis://, redis+socket:// or amqp:// URL")
    return value


def _redis_url(value: str) -> str:
    if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def _secret(value: str) -> str:
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def _basic_auth(value: str) -> str:
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError("must be user:password")
    return value


def _directory(value: str) -> str:
    if not os.path.isdir(value):
        raise ValueError("must be an existing directory")
    return value


def _positive_int(value: str) -> int:
    number = whole_number(value.strip())
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _port(value: str) -> int:
    number = whole_number(value.strip())
    if not 0 < number < 65536:
        raise ValueError("must be a TCP port")
    return number


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        raise ValueError("must be true or false")
    return lowered in {"1", "true", "yes", "on"}


def _non_negative_int(value: str) -> int:
    number = whole_number(value.strip())
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def _origins(value: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    for origin in origins:
        if origin == "*" or urlsplit(origin).scheme not in {"http", "https"} or not urlsplit(origin).netloc:
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
    return origins


def _smtp_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("must be smtp://host[:port] or smtps://user:password@host[:port]")
    return value


def _mail_address(value: str) -> str:
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, address = parseaddr(value)
    if "@" not in address or any(character in value for character in "\r\n"):
        raise ValueError("must be an address such as SmartCompute <no-reply@example.com>")
    return str(Address(display_name=name, addr_spec=address))


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda value: parse(value) if value else None


def _setting(parse: Callable[[str], Any], default: Any = REQUIRED, doc: str = "") -> Any:
    return field(default=None, metadata={"parse": parse, "default": default, "doc": doc})


class _FromEnvironment:
    """Reading a settings dataclass: each field's parser and default from its metadata, one line per error."""

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> Any:
        parsed = {}
        for setting in fields(cls):
            raw = values.get(setting.name)
            default = setting.metadata["default"]
            if raw is None or raw == "":
                if default is REQUIRED:
                    raise ConfigError(f"{setting.name}: is required but not set")
                if default is None or default == "":
                    parsed[setting.name] = None
                    continue
                raw = default
            try:
                parsed[setting.name] = setting.metadata["parse"](str(raw))
            except ValueError as error:
                raise ConfigError(f"{setting.name}: {error}") from None
        return cls(**parsed)

    @classmethod
    def from_env(cls) -> Any:
        return cls.from_mapping(os.environ)


@dataclass(frozen=True)
class Settings(_FromEnvironment):
    DATABASE_URL: str = _setting(_database_url, doc="PostgreSQL, the source of truth")
    REDIS_URL: str = _setting(_redis_url, doc="Redis for rate limits, locks and (by default) the broker")
    BROKER_URL: str = _setting(_broker_url, default=None, doc="Celery broker; defaults to REDIS_URL")
    BROKER_KEY_PREFIX: str = _setting(str, default="", doc="Redis broker key prefix (isolates test runs)")
    SECRET_KEY: str = _setting(_secret)
    JWT_SECRET_KEY: str = _setting(_secret, doc="16+ characters; 32+ bytes wanted (the API warns below that)")
    JWT_ACCESS_TOKEN_MINUTES: int = _setting(_positive_int, default="15")
    WEB_THREADS: int = _setting(_positive_int, default="8", doc="request threads per API process (gunicorn reads "
                                "it too); each process pools that many database connections, and as many for webhooks")
    PAYMENT_WEBHOOK_SECRET: str | None = _setting(_optional(billing.webhook_secret), default="")
    # Payments and credits: webhook and API secrets may be secret references (see config/billing_settings.py).
    COINBASE_COMMERCE_WEBHOOK_SECRET: str | None = _setting(_optional(billing.webhook_secret), default="")
    BTCPAY_WEBHOOK_SECRET: str | None = _setting(_optional(billing.webhook_secret), default="")
    NOWPAYMENTS_IPN_SECRET: str | None = _setting(_optional(billing.webhook_secret), default="")
    STANDARD_WEBHOOKS_SECRET: str | None = _setting(_optional(billing.standard_webhooks_secret), default="")
    STANDARD_WEBHOOKS_TOLERANCE: int = _setting(_positive_int, default="300", doc="seconds a timestamp may be off")
    COINBASE_COMMERCE_API_URL: str = _setting(billing.http_url, default="https://api.commerce.coinbase.com")
    COINBASE_COMMERCE_API_KEY: str | None = _setting(_optional(billing.plain_or_reference), default="")
    BTCPAY_URL: str | None = _setting(_optional(billing.http_url), default="", doc="your BTCPay Server")
    BTCPAY_API_KEY: str | None = _setting(_optional(billing.plain_or_reference), default="")
    BTCPAY_STORE_ID: str | None = _setting(_optional(str), default="")
    NOWPAYMENTS_API_URL: str = _setting(billing.http_url, default="https://api.nowpayments.io")
    NOWPAYMENTS_API_KEY: str | None = _setting(_optional(billing.plain_or_reference), default="")
    PUBLIC_BASE_URL: str | None = _setting(_optional(billing.http_url), default="", doc="for provider callbacks")
    VAULT_ADDR: str | None = _setting(_optional(billing.http_url), default="")
    VAULT_TOKEN: str | None = _setting(_optional(str), default="")
    VAULT_KV_MOUNT: str = _setting(str, default="secret", doc="the KV v2 mount of vault: references")
    AWS_SECRETS_REGION: str = _setting(str, default="us-east-1")
    AWS_SECRETS_ENDPOINT_URL: str | None = _setting(_optional(billing.http_url), default="")
    JOB_PRICES: tuple = _setting(billing.job_prices, default=_DEFAULT_JOB_PRICES, doc="type=base+per_1k,...")
    CREDIT_PACKS: tuple = _setting(billing.products, default=_DEFAULT_PACKS, doc="name:credits:price,...")
    CREDIT_PLANS: tuple = _setting(billing.products, default=_DEFAULT_PLANS, doc="name:credits:price,...")
    PRICE_CURRENCY: str = _setting(str.upper, default="USD")
    PAYMENT_EXPIRY_MINUTES: int = _setting(_positive_int, default="60")
    PAYMENT_AMOUNT_TOLERANCE: Any = _setting(billing.percent, default="0.5", doc="percent short still counted as paid")
    PAYMENT_EVENT_MAX_ATTEMPTS: int = _setting(_positive_int, default="8", doc="tries before dead-lettering")
    FLOWER_BASIC_AUTH: str | None = _setting(_optional(_basic_auth), default="")
    METRICS_BASIC_AUTH: str | None = _setting(_optional(_basic_auth), default="", doc="user:password for the "
                                              "API's /metrics (Prometheus); unset, /metrics is 404")
    PROMETHEUS_MULTIPROC_DIR: str | None = _setting(_optional(_directory), default="", doc="where each API "
                                                    "process keeps its request counts (web/gunicorn_conf.py sets it)")
    DATABASE_STATEMENT_TIMEOUT: int = _setting(
        _non_negative_int, default="10", doc="seconds an API request waits on one database statement (a lock held "
        "by a migration or a stuck transaction) before it is answered 503; 0 waits for ever")
    PORT: int = _setting(_port, default="8000")
    FLOWER_PORT: int = _setting(_port, default="5555")
    MAX_CONTENT_LENGTH: int = _setting(_positive_int, default=str(10 * 1024 * 1024))
    MAX_POINTS_PER_JOB: int = _setting(_positive_int, default="200000")
    JOB_RETENTION_DAYS: int = _setting(_positive_int, default="30")
    JOB_SOFT_TIME_LIMIT: int = _setting(_positive_int, default="300", doc="seconds before a job is failed")
    JOB_HARD_TIME_LIMIT: int = _setting(_positive_int, default="330", doc="seconds before its process is killed")
    JOB_MAX_ATTEMPTS: int = _setting(_positive_int, default="3", doc="deliveries before a job is failed")
    LOAD_SHED_QUEUED_JOBS: int = _setting(
        _non_negative_int, default="20000", doc="queued jobs at which POST /v1/jobs answers 503 with Retry-After to "
        "critical jobs (low at half, normal at 3/4, high at 90% of it); 0: no limit")
    LOAD_SHED_WAIT_SECONDS: int = _setting(
        _non_negative_int, default="300", doc="seconds the tenth-oldest queued job may have waited before POST "
        "/v1/jobs answers 503 with Retry-After to critical jobs (lower priorities at the same shares); 0: no limit")
    REPUBLISH_INTERVAL: int = _setting(_positive_int, default="15", doc="seconds between re-publisher runs")
    REPUBLISH_UNSENT_AFTER: int = _setting(_positive_int, default="10", doc="seconds a never-sent job waits")
    REPUBLISH_STALE_AFTER: int = _setting(_positive_int, default="900", doc="seconds a sent job may sit queued")
    REPUBLISH_MISSING_AFTER: int = _setting(_positive_int, default="30", doc="seconds a sent job may sit queued "
                                            "once the broker holds no message waiting on its queue (it was lost)")
    BROKER_VISIBILITY_TIMEOUT: int = _setting(_positive_int, default="", doc="Redis broker redelivery delay")
    BROKER_PUBLISH_CONFIRMS: bool = _setting(
        _boolean, default="false", doc="the API waits for RabbitMQ to confirm each publish, so a job lost in a "
        "crashing broker is re-sent after REPUBLISH_UNSENT_AFTER, not once its queue has emptied")
    TASK_EVENTS: bool = _setting(_boolean, default="true", doc="workers send task events for Flower")
    TASK_SENT_EVENTS: bool = _setting(_boolean, default="false", doc="the API also sends task-sent events, so "
                                      "Flower lists a task before a worker takes it; one more broker publish each")
    CALLBACK_PRIVATE_NETWORKS: bool = _setting(
        _boolean, default="false", doc="job callbacks may go to private, loopback and link-local addresses (only "
        "where every receiver is internal: it lets any customer make the workers reach this network)")
    CALLBACK_TIMEOUT_SECONDS: int = _setting(_positive_int, default="5", doc="how long a callback's receiver "
                                             "may take to answer (a core worker process waits that long)")
    LOG_LEVEL: str = _setting(str.upper, default="INFO")
    # Access control and fair use (see README, "Access control").
    JWT_REFRESH_TOKEN_DAYS: int = _setting(_positive_int, default="14", doc="refresh-token lifetime")
    PLANS: dict = _setting(parse_plans, default=DEFAULT_PLANS, doc="limits per plan, see config/plans.py")
    DEFAULT_PLAN: str = _setting(str, default="free", doc="plan of a new account")
    ANONYMOUS_RATE_LIMIT: str = _setting(rate_limit, default="60/minute", doc="per client address, no credentials")
    LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS: str = _setting(
        rate_limits, default="5/minute;20/hour;50/day", doc="failed sign-ins for one email from one address; each "
        "longer window's allowance makes an address that keeps guessing wait longer (web/sign_in_limits.py)")
    LOGIN_RATE_LIMIT_PER_ADDRESS: str = _setting(rate_limits, default="20/minute;200/day",
                                                 doc="failed sign-ins from one address, whatever the email")
    LOGIN_RATE_LIMIT_PER_EMAIL: str = _setting(
        rate_limits, default="50/hour", doc="failed sign-ins for one email from every address; past it the attack "
        "is logged and audited, and each address may fail for that email once per window")
    WEBHOOK_RATE_LIMIT_PER_ADDRESS: str = _setting(
        rate_limit, default="600/minute", doc="payment-webhook deliveries per client address, signed or not; far "
        "above what a provider sends (one delivery per payment's change of state), so it only slows a flood")
    RATE_LIMIT_KEY_PREFIX: str = _setting(str, default="smartcompute-rl", doc="Redis key prefix of rate limits")
    TRUSTED_PROXY_COUNT: int = _setting(_non_negative_int, default="0", doc="proxies whose X-Forwarded-For counts")
    CORS_ORIGINS: tuple | None = _setting(_origins, default="", doc="comma-separated origins; unset = CORS closed")
    API_KEY_MAX_GRACE_SECONDS: int = _setting(_positive_int, default="604800", doc="longest rotation grace")
    SMTP_URL: str | None = _setting(_optional(_smtp_url), default="", doc="where password resets and invitations "
                                    "are mailed from (smtp://host:25, STARTTLS when offered, or smtps://user:pass@"
                                    "host:465); unset, an operator prints their tokens with the CLI instead")
    MAIL_FROM: str | None = _setting(_optional(_mail_address), default="", doc="their From: address; required "
                                     "with SMTP_URL")
    PASSWORD_RESET_MINUTES: int = _setting(_positive_int, default="30", doc="how long a password-reset token works")
    INVITATION_DAYS: int = _setting(_positive_int, default="7", doc="how long an invitation to an account works")

    def __post_init__(self) -> None:
        if self.BROKER_URL is None:
            object.__setattr__(self, "BROKER_URL", _broker_url(_redis_as_broker(self.REDIS_URL)))
        if self.BROKER_VISIBILITY_TIMEOUT is None:
            object.__setattr__(self, "BROKER_VISIBILITY_TIMEOUT", self.JOB_HARD_TIME_LIMIT + 60)
        if self.JOB_HARD_TIME_LIMIT <= self.JOB_SOFT_TIME_LIMIT:
            raise ConfigError("JOB_HARD_TIME_LIMIT: must be greater than JOB_SOFT_TIME_LIMIT")
        if self.SMTP_URL and not self.MAIL_FROM:
            raise ConfigError("MAIL_FROM: is required when SMTP_URL is set")
        if self.DEFAULT_PLAN not in self.PLANS:
            raise ConfigError(f"DEFAULT_PLAN: {self.DEFAULT_PLAN!r} is not one of PLANS ({', '.join(self.PLANS)})")

    def without_payment_secrets(self) -> "Settings":
        """The same settings with every payment secret removed (what the core worker runs with)."""
        return replace(self, **{name: None for name in PAYMENT_SECRET_SETTINGS})

    def plan_limits(self, plan: str) -> PlanLimits:
        """The limits of an account's plan; a plan no longer configured falls back to DEFAULT_PLAN's."""
        return self.PLANS.get(plan, self.PLANS[self.DEFAULT_PLAN])

    @property
    def broker_is_redis(self) -> bool:
        return self.BROKER_URL.startswith(("redis", "rediss"))

def _positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number of seconds")
    return number


def _non_negative_seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("must be zero or a positive number of seconds")
    return number


_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def _byte_size(value: str) -> int:
    number, unit = value.strip().upper(), ""
    while number and not number[-1].isdigit():
        number, unit = number[:-1], number[-1] + unit
    if not number.isdigit() or unit.strip() not in _SIZE_UNITS or int(number) <= 0:
        raise ValueError("must be a positive size such as 100MB, 512KiB or 1048576")
    return int(number) * _SIZE_UNITS[unit.strip()]


def _host_name(value: str) -> str:
    if not 0 < len(value) <= 255:
        raise ValueError("must be 1 to 255 characters")
    return value


def _readable_file(value: str) -> str:
    if not os.path.isfile(value):
        raise ValueError("must be an existing file")
    return value


@dataclass(frozen=True)
class IngestSettings(_FromEnvironment):
    """What the clients that send telemetry to an API read (`smartcompute agent`, `smartcompute import
    prometheus`); they need none of the service's own settings."""

    SMARTCOMPUTE_URL: str = _setting(billing.http_url, doc="the API as clients reach it (behind nginx, its URL)")
    SMARTCOMPUTE_API_KEY: str = _setting(_secret, doc="an API key with jobs:read and jobs:write")
    SMARTCOMPUTE_CA_FILE: str | None = _setting(_optional(_readable_file), default="",
                                                doc="CA certificates for an API whose certificate the system's do not sign")
    INGEST_TIMEOUT_SECONDS: float = _setting(_positive_seconds, default="30", doc="how long one request may take")
    AGENT_HOST: str | None = _setting(_optional(_host_name), default="", doc="the host the agent reports; "
                                      "unset, the machine's host name")
    AGENT_INTERVAL_SECONDS: float = _setting(_positive_seconds, default="10", doc="seconds between samples")
    AGENT_BATCH_SECONDS: float = _setting(_positive_seconds, default="300", doc="an anomaly_detection job per batch")
    AGENT_THREAT_SECONDS: float = _setting(_non_negative_seconds, default="900",
                                           doc="a threat_analysis job this often (connections, processes); 0: none")
    AGENT_SPOOL_DIR: str = _setting(os.path.expanduser, default="~/.local/state/smartcompute-agent",
                                    doc="where batches wait while the API cannot take them")
    AGENT_SPOOL_MAX_BYTES: int = _setting(_byte_size, default="100MB", doc="the spool's size; when full the "
                                          "oldest batch is dropped, and counted")
    AGENT_SHUTDOWN_SECONDS: float = _setting(_non_negative_seconds, default="10", doc="how long the agent keeps "
                                             "sending after SIGTERM before leaving the rest in the spool")
    PROMETHEUS_BASIC_AUTH: str | None = _setting(_optional(_basic_auth), default="", doc="user:password for Prometheus")
    PROMETHEUS_BEARER_TOKEN: str | None = _setting(_optional(str), default="", doc="a bearer token for Prometheus")
    LOG_LEVEL: str = _setting(str.upper, default="INFO")

    def __post_init__(self) -> None:
        if self.AGENT_BATCH_SECONDS < self.AGENT_INTERVAL_SECONDS:
            raise ConfigError("AGENT_BATCH_SECONDS: must be at least AGENT_INTERVAL_SECONDS")
        if 0 < self.AGENT_THREAT_SECONDS < self.AGENT_INTERVAL_SECONDS:
            raise ConfigError("AGENT_THREAT_SECONDS: must be 0 or at least AGENT_INTERVAL_SECONDS")
        if self.PROMETHEUS_BASIC_AUTH and self.PROMETHEUS_BEARER_TOKEN:
            raise ConfigError("PROMETHEUS_BEARER_TOKEN: set it or PROMETHEUS_BASIC_AUTH, not both")


def _redis_as_broker(redis_url: str) -> str:
    # redis-py writes a unix socket as unix://; kombu's Redis transport spells it redis+socket://.
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://"):]
    return redis_url


def database_url_from_env() -> str:
    """Just DATABASE_URL, for tools (Alembic) that need nothing else."""
    raw = os.environ.get("DATABASE_URL", "")
    if not raw:
        raise ConfigError("DATABASE_URL: is required but not set")
    try:
        return _database_url(raw)
    except ValueError as error:
        raise ConfigError(f"DATABASE_URL: {error}") from None


def plans_from_env() -> dict:
    """Just PLANS, for the operator CLI, which needs nothing else."""
    try:
        return parse_plans(os.environ.get("PLANS") or DEFAULT_PLANS)
    except ValueError as error:
        raise ConfigError(f"PLANS: {error}") from None


def job_retention_days_from_env() -> int:
    """Just JOB_RETENTION_DAYS, for the operator CLI's imports."""
    try:
        return _positive_int(os.environ.get("JOB_RETENTION_DAYS") or "30")
    except ValueError as error:
        raise ConfigError(f"JOB_RETENTION_DAYS: {error}") from None
