"""The one place SmartCompute reads its settings from the environment.

Each setting is one field: its name (the environment variable), its type and parser, its default as an operator
would write it (none: required) and a description, from which `python -m config.reference` writes
docs/configuration.md. Tests and tools build `Settings` from a plain dict; nothing here runs at import time.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Annotated, Any

from pydantic import ValidationInfo, ValidatorFunctionWrapHandler, field_validator, model_validator

from config import billing_settings as billing
from config import parsers as p
from config.plans import DEFAULT_PLANS, PlanLimits, parse_plans, rate_limit, rate_limits
from config.reading import REQUIRED, ConfigError, EnvironmentSettings, parsed, setting

__all__ = [
    "ConfigError",
    "IngestSettings",
    "PAYMENT_SECRET_SETTINGS",
    "Settings",
    "database_url_from_env",
    "job_retention_days_from_env",
    "plans_from_env",
]

# Settings that only the API (webhook verification, provider clients) may hold; the core worker drops them.
PAYMENT_SECRET_SETTINGS = (
    "PAYMENT_WEBHOOK_SECRET",
    "COINBASE_COMMERCE_WEBHOOK_SECRET",
    "BTCPAY_WEBHOOK_SECRET",
    "NOWPAYMENTS_IPN_SECRET",
    "STANDARD_WEBHOOKS_SECRET",
    "COINBASE_COMMERCE_API_KEY",
    "BTCPAY_API_KEY",
    "NOWPAYMENTS_API_KEY",
    "VAULT_TOKEN",
)
# RFC 7518, section 3.2: an HMAC key at least as long as the hash's output, 256 bits for HS256 tokens.
HS256_KEY_BYTES = 32

PositiveInt = Annotated[int, parsed(p.positive_int)]
NonNegativeInt = Annotated[int, parsed(p.non_negative_int)]
Port = Annotated[int, parsed(p.port)]
Flag = Annotated[bool, parsed(p.boolean)]
Upper = Annotated[str, parsed(str.upper)]
Secret = Annotated[str, parsed(p.secret)]
BasicAuth = Annotated[str | None, parsed(p.basic_auth)]
HttpUrl = Annotated[str, parsed(billing.http_url)]
OptionalHttpUrl = Annotated[str | None, parsed(billing.http_url)]
WebhookSecret = Annotated[str | None, parsed(billing.webhook_secret)]
KeyOrReference = Annotated[str | None, parsed(billing.plain_or_reference)]
Products = Annotated[tuple, parsed(billing.products)]
RateLimit = Annotated[str, parsed(rate_limit)]
RateLimits = Annotated[str, parsed(rate_limits)]
Seconds = Annotated[float, parsed(p.positive_seconds)]
SecondsOrZero = Annotated[float, parsed(p.non_negative_seconds)]
_REFERENCE = " (or a vault: or aws-sm: reference)"


class Settings(EnvironmentSettings):
    """The API's, the workers' and the schedulers' settings."""

    DATABASE_URL: Annotated[str, parsed(p.database_url)] = setting(
        REQUIRED, "PostgreSQL, the source of truth (postgres:// is accepted as postgresql://)"
    )
    REDIS_URL: Annotated[str, parsed(p.redis_url)] = setting(
        REQUIRED, "Redis for rate limits, locks and (by default) the broker: redis://, rediss:// or unix://"
    )
    BROKER_URL: Annotated[str, parsed(p.broker_url)] = setting(
        None, "the Celery broker, redis:// or amqp://; unset, REDIS_URL"
    )
    BROKER_KEY_PREFIX: str | None = setting(None, "a prefix for a Redis broker's keys (isolates test runs)")
    SECRET_KEY: Secret = setting(REQUIRED, "Flask's signing key, 16+ characters")
    JWT_SECRET_KEY: Secret = setting(
        REQUIRED, "signs access tokens: 16+ characters; 32+ bytes wanted (the API warns below that)"
    )
    JWT_ACCESS_TOKEN_MINUTES: PositiveInt = setting("15", "how long an access token works")
    BIND_ADDRESS: str = setting("0.0.0.0", "the address the API listens on (gunicorn; make run binds 127.0.0.1)")
    WEB_CONCURRENCY: PositiveInt = setting("2", "API processes (gunicorn workers)")
    WEB_THREADS: PositiveInt = setting(
        "8",
        "request threads per API process (gunicorn reads it too); "
        "each process pools that many database connections, and as many for webhooks",
    )
    PAYMENT_WEBHOOK_SECRET: WebhookSecret = setting(
        None, "verifies the generic payment webhook, 16+ characters" + _REFERENCE
    )
    COINBASE_COMMERCE_WEBHOOK_SECRET: WebhookSecret = setting(
        None, "verifies Coinbase Commerce's webhooks" + _REFERENCE
    )
    BTCPAY_WEBHOOK_SECRET: WebhookSecret = setting(None, "verifies BTCPay Server's webhooks" + _REFERENCE)
    NOWPAYMENTS_IPN_SECRET: WebhookSecret = setting(None, "verifies NOWPayments' IPN calls" + _REFERENCE)
    STANDARD_WEBHOOKS_SECRET: Annotated[str | None, parsed(billing.standard_webhooks_secret)] = setting(
        None,
        "whsec_<base64>, several separated by spaces while rotating, for providers that sign as "
        "Standard Webhooks" + _REFERENCE,
    )
    STANDARD_WEBHOOKS_TOLERANCE: PositiveInt = setting("300", "seconds a Standard Webhooks timestamp may be off")
    COINBASE_COMMERCE_API_URL: HttpUrl = setting("https://api.commerce.coinbase.com", "Coinbase Commerce's API")
    COINBASE_COMMERCE_API_KEY: KeyOrReference = setting(
        None, "creates Coinbase Commerce charges; unset, the provider is not offered"
    )
    BTCPAY_URL: OptionalHttpUrl = setting(None, "your BTCPay Server")
    BTCPAY_API_KEY: KeyOrReference = setting(None, "creates BTCPay invoices")
    BTCPAY_STORE_ID: str | None = setting(None, "the BTCPay store invoices are made in")
    NOWPAYMENTS_API_URL: HttpUrl = setting("https://api.nowpayments.io", "NOWPayments' API")
    NOWPAYMENTS_API_KEY: KeyOrReference = setting(None, "creates NOWPayments payments")
    PUBLIC_BASE_URL: OptionalHttpUrl = setting(None, "the API's public URL, for provider callbacks")
    VAULT_ADDR: OptionalHttpUrl = setting(None, "HashiCorp Vault or OpenBao, for vault: references")
    VAULT_TOKEN: str | None = setting(None, "the token vault: references are read with")
    VAULT_KV_MOUNT: str = setting("secret", "the KV v2 mount of vault: references")
    AWS_SECRETS_REGION: str = setting("us-east-1", "the AWS Secrets Manager region of aws-sm: references")
    AWS_SECRETS_ENDPOINT_URL: OptionalHttpUrl = setting(None, "another Secrets Manager endpoint (a local one in tests)")
    JOB_PRICES: Annotated[tuple, parsed(billing.job_prices)] = setting(
        "anomaly_detection=1+1,threat_analysis=2+1,performance_analysis=1+1",
        "credits per job, "
        "type=base+per_1k,...: base plus per_1k for each started thousand points (timestamps x metrics)",
    )
    CREDIT_PACKS: Products = setting(
        "starter:1000:10,standard:5500:50,large:12000:100", "credit packs for sale, name:credits:price,..."
    )
    CREDIT_PLANS: Products = setting(
        "pro:25000:200,enterprise:150000:1000", "credit plans for sale, name:credits:price,..."
    )
    PRICE_CURRENCY: Upper = setting("USD", "the currency of CREDIT_PACKS' and CREDIT_PLANS' prices")
    PAYMENT_EXPIRY_MINUTES: PositiveInt = setting("60", "how long a payment may wait to be paid")
    PAYMENT_AMOUNT_TOLERANCE: Annotated[Decimal, parsed(billing.percent)] = setting(
        "0.5", "percent short of the price still counted as paid"
    )
    PAYMENT_EVENT_MAX_ATTEMPTS: PositiveInt = setting("8", "tries at a payment event before it is dead-lettered")
    FLOWER_BASIC_AUTH: BasicAuth = setting(None, "user:password Flower asks for on every path")
    METRICS_BASIC_AUTH: BasicAuth = setting(
        None, "user:password for the API's /metrics (Prometheus); unset, /metrics is 404"
    )
    PROMETHEUS_MULTIPROC_DIR: Annotated[str | None, parsed(p.directory)] = setting(
        None, "where each API process keeps its request counts (web/gunicorn_conf.py sets it)"
    )
    DATABASE_STATEMENT_TIMEOUT: NonNegativeInt = setting(
        "10",
        "seconds an API request waits on one database statement (a lock held by a migration or "
        "a stuck transaction) before it is answered 503; 0 waits for ever",
    )
    PORT: Port = setting("8000", "the API's port")
    FLOWER_PORT: Port = setting("5555", "Flower's port")
    MAX_CONTENT_LENGTH: PositiveInt = setting(str(10 * 1024 * 1024), "the largest request body, in bytes")
    MAX_POINTS_PER_JOB: PositiveInt = setting("200000", "timestamps x metrics in one job, whatever the plan allows")
    JOB_RETENTION_DAYS: PositiveInt = setting("30", "days a finished job and its result are kept")
    JOB_SOFT_TIME_LIMIT: PositiveInt = setting("300", "seconds before a running job is failed")
    JOB_HARD_TIME_LIMIT: PositiveInt = setting(
        "330", "seconds before its process is killed; more than JOB_SOFT_TIME_LIMIT"
    )
    JOB_MAX_ATTEMPTS: PositiveInt = setting("3", "deliveries of a job before it is failed")
    LOAD_SHED_QUEUED_JOBS: NonNegativeInt = setting(
        "20000",
        "queued jobs at which POST /v1/jobs answers 503 with Retry-After to critical jobs "
        "(low at half, normal at 3/4, high at 90% of it); 0: no limit",
    )
    LOAD_SHED_WAIT_SECONDS: NonNegativeInt = setting(
        "300",
        "seconds the tenth-oldest queued job may have waited before POST /v1/jobs answers 503 "
        "with Retry-After to critical jobs (lower priorities at the same shares); 0: no limit",
    )
    REPUBLISH_INTERVAL: PositiveInt = setting("15", "seconds between re-publisher runs")
    REPUBLISH_UNSENT_AFTER: PositiveInt = setting("10", "seconds a never-sent job waits before it is sent")
    REPUBLISH_STALE_AFTER: PositiveInt = setting("900", "seconds a sent job may sit queued")
    REPUBLISH_MISSING_AFTER: PositiveInt = setting(
        "30", "seconds a sent job may sit queued once the broker holds no message waiting on its queue (it was lost)"
    )
    BROKER_VISIBILITY_TIMEOUT: PositiveInt = setting(
        None, "seconds before a Redis broker redelivers an unacknowledged task; unset, JOB_HARD_TIME_LIMIT + 60"
    )
    BROKER_PUBLISH_CONFIRMS: Flag = setting(
        "false",
        "the API waits for RabbitMQ to confirm each publish, so a job lost in a crashing "
        "broker is re-sent after REPUBLISH_UNSENT_AFTER, not once its queue has emptied",
    )
    TASK_EVENTS: Flag = setting("true", "workers send task events for Flower")
    TASK_SENT_EVENTS: Flag = setting(
        "false",
        "the API also sends task-sent events, so Flower lists a "
        "task before a worker takes it; one more broker publish each",
    )
    CALLBACK_PRIVATE_NETWORKS: Flag = setting(
        "false",
        "job callbacks may go to private, loopback and link-local addresses (only where every "
        "receiver is internal: it lets any customer make the workers reach this network)",
    )
    CALLBACK_TIMEOUT_SECONDS: PositiveInt = setting(
        "5", "how long a callback's receiver may take to answer (a core worker process waits that long)"
    )
    LOG_LEVEL: Upper = setting("INFO", "DEBUG, INFO, WARNING or ERROR")
    JWT_REFRESH_TOKEN_DAYS: PositiveInt = setting("14", "how long a refresh token works")
    PLANS: Annotated[dict, parsed(parse_plans)] = setting(
        DEFAULT_PLANS,
        "limits per plan, name:key=value,...;name:... with the keys requests, "
        "jobs_per_day, concurrent_jobs, points_per_job and api_keys (config/plans.py)",
    )
    DEFAULT_PLAN: str = setting("free", "the plan of a new account; one of PLANS")
    ANONYMOUS_RATE_LIMIT: RateLimit = setting("60/minute", "requests per client address without credentials")
    LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS: RateLimits = setting(
        "5/minute;20/hour;50/day",
        "failed sign-ins for one email from one address; each longer "
        "window's allowance makes an address that keeps guessing wait longer (web/sign_in_limits.py)",
    )
    LOGIN_RATE_LIMIT_PER_ADDRESS: RateLimits = setting(
        "20/minute;200/day", "failed sign-ins from one address, whatever the email"
    )
    LOGIN_RATE_LIMIT_PER_EMAIL: RateLimits = setting(
        "50/hour",
        "failed sign-ins for one email from every address; past it the attack is logged and "
        "audited, and each address may fail for that email once per window",
    )
    WEBHOOK_RATE_LIMIT_PER_ADDRESS: RateLimit = setting(
        "600/minute",
        "payment-webhook deliveries per client address, signed or not; far above what a "
        "provider sends (one delivery per payment's change of state), so it only slows a flood",
    )
    RATE_LIMIT_KEY_PREFIX: str = setting("smartcompute-rl", "the Redis key prefix of rate limits")
    TRUSTED_PROXY_COUNT: NonNegativeInt = setting(
        "0", "proxies in front of the API whose X-Forwarded-For counts (1 behind the shipped nginx)"
    )
    CORS_ORIGINS: Annotated[tuple[str, ...] | None, parsed(p.origins)] = setting(
        None, "comma-separated origins browsers may call the API from; unset, CORS is closed"
    )
    API_KEY_MAX_GRACE_SECONDS: PositiveInt = setting(
        "604800", "the longest grace an API key being rotated keeps working for"
    )
    SMTP_URL: Annotated[str | None, parsed(p.smtp_url)] = setting(
        None,
        "where password resets and invitations are mailed from (smtp://host:25, STARTTLS when "
        "offered, or smtps://user:pass@host:465); unset, an operator prints their tokens with the CLI instead",
    )
    MAIL_FROM: Annotated[str | None, parsed(p.mail_address)] = setting(
        None, "their From: address; required with SMTP_URL"
    )
    PASSWORD_RESET_MINUTES: PositiveInt = setting("30", "how long a password-reset token works")
    INVITATION_DAYS: PositiveInt = setting("7", "how long an invitation to an account works")
    # Live updates (web/events.py): each open stream holds one of its process's WEB_THREADS request threads.
    EVENT_STREAMS_PER_PROCESS: NonNegativeInt = setting(
        None,
        "server-sent event streams one API process keeps open at once; more are answered 503 with "
        "Retry-After. Below WEB_THREADS; unset, half of it",
    )
    EVENT_STREAM_MAX_SECONDS: PositiveInt = setting(
        "300", "how long a stream lasts before it ends and its client reconnects with Last-Event-ID"
    )
    EVENT_HEARTBEAT_SECONDS: PositiveInt = setting(
        "15", "seconds between a quiet stream's comments, which keep proxies from closing it (nginx's read timeout: 60)"
    )
    EVENT_RETENTION_HOURS: PositiveInt = setting(
        "24",
        "how long events are kept for clients that reconnect with Last-Event-ID; an older one is told to fetch again",
    )

    @field_validator("BROKER_URL", mode="wrap")
    @classmethod
    def broker_defaults_to_redis(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if value is not None:
            return handler(value)
        # Without a valid REDIS_URL there is nothing to derive; that setting's own error says why.
        return handler(p.redis_as_broker(info.data["REDIS_URL"])) if "REDIS_URL" in info.data else None

    @field_validator("BROKER_VISIBILITY_TIMEOUT", mode="wrap")
    @classmethod
    def redelivery_after_the_hard_limit(
        cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
    ) -> Any:
        if value is not None:
            return handler(value)
        return info.data["JOB_HARD_TIME_LIMIT"] + 60 if "JOB_HARD_TIME_LIMIT" in info.data else None

    @field_validator("EVENT_STREAMS_PER_PROCESS", mode="wrap")
    @classmethod
    def half_the_threads_stream(cls, value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        if value is not None:
            return handler(value)
        return info.data["WEB_THREADS"] // 2 if "WEB_THREADS" in info.data else None

    @model_validator(mode="after")
    def settings_agree(self) -> Settings:
        if self.JOB_HARD_TIME_LIMIT <= self.JOB_SOFT_TIME_LIMIT:
            raise ValueError("JOB_HARD_TIME_LIMIT: must be greater than JOB_SOFT_TIME_LIMIT")
        if self.SMTP_URL and not self.MAIL_FROM:
            raise ValueError("MAIL_FROM: is required when SMTP_URL is set")
        if self.EVENT_STREAMS_PER_PROCESS >= self.WEB_THREADS:
            raise ValueError(
                "EVENT_STREAMS_PER_PROCESS: must be below WEB_THREADS, or streams could hold every request thread"
            )
        if self.DEFAULT_PLAN not in self.PLANS:
            raise ValueError(f"DEFAULT_PLAN: {self.DEFAULT_PLAN!r} is not one of PLANS ({', '.join(self.PLANS)})")
        return self

    def without_payment_secrets(self) -> Settings:
        """The same settings with every payment secret removed (what the core worker runs with)."""
        return self.model_copy(update=dict.fromkeys(PAYMENT_SECRET_SETTINGS))

    def plan_limits(self, plan: str) -> PlanLimits:
        """The limits of an account's plan; a plan no longer configured falls back to DEFAULT_PLAN's."""
        return self.PLANS.get(plan, self.PLANS[self.DEFAULT_PLAN])

    @property
    def broker_is_redis(self) -> bool:
        return self.BROKER_URL.startswith(("redis", "rediss"))


class IngestSettings(EnvironmentSettings):
    """What the clients that send telemetry to an API read (`smartcompute agent`, `smartcompute import
    prometheus`); they need none of the service's own settings."""

    SMARTCOMPUTE_URL: HttpUrl = setting(REQUIRED, "the API as clients reach it (behind nginx, its URL)")
    SMARTCOMPUTE_API_KEY: Secret = setting(REQUIRED, "an API key with jobs:read and jobs:write")
    SMARTCOMPUTE_CA_FILE: Annotated[str | None, parsed(p.readable_file)] = setting(
        None, "CA certificates for an API whose certificate the system's do not sign"
    )
    INGEST_TIMEOUT_SECONDS: Seconds = setting("30", "how long one request may take")
    AGENT_HOST: Annotated[str | None, parsed(p.host_name)] = setting(
        None, "the host the agent reports; unset, the machine's host name"
    )
    AGENT_INTERVAL_SECONDS: Seconds = setting("10", "seconds between samples")
    AGENT_BATCH_SECONDS: Seconds = setting(
        "300", "an anomaly_detection job per batch of this many seconds; at least AGENT_INTERVAL_SECONDS"
    )
    AGENT_THREAT_SECONDS: SecondsOrZero = setting(
        "900", "a threat_analysis job this often (connections, processes); 0: none"
    )
    AGENT_SPOOL_DIR: Annotated[str, parsed(os.path.expanduser)] = setting(
        "~/.local/state/smartcompute-agent", "where batches wait while the API cannot take them"
    )
    AGENT_SPOOL_MAX_BYTES: Annotated[int, parsed(p.byte_size)] = setting(
        "100MB", "the spool's size; when full the oldest batch is dropped, and counted"
    )
    AGENT_SHUTDOWN_SECONDS: SecondsOrZero = setting(
        "10", "how long the agent keeps sending after SIGTERM before leaving the rest in the spool"
    )
    PROMETHEUS_BASIC_AUTH: BasicAuth = setting(None, "user:password for Prometheus")
    PROMETHEUS_BEARER_TOKEN: str | None = setting(None, "a bearer token for Prometheus; not with PROMETHEUS_BASIC_AUTH")
    LOG_LEVEL: Upper = setting("INFO", "DEBUG, INFO, WARNING or ERROR")

    @model_validator(mode="after")
    def settings_agree(self) -> IngestSettings:
        if self.AGENT_BATCH_SECONDS < self.AGENT_INTERVAL_SECONDS:
            raise ValueError("AGENT_BATCH_SECONDS: must be at least AGENT_INTERVAL_SECONDS")
        if 0 < self.AGENT_THREAT_SECONDS < self.AGENT_INTERVAL_SECONDS:
            raise ValueError("AGENT_THREAT_SECONDS: must be 0 or at least AGENT_INTERVAL_SECONDS")
        if self.PROMETHEUS_BASIC_AUTH and self.PROMETHEUS_BEARER_TOKEN:
            raise ValueError("PROMETHEUS_BEARER_TOKEN: set it or PROMETHEUS_BASIC_AUTH, not both")
        return self


def database_url_from_env() -> str:
    """Just DATABASE_URL, for tools (Alembic) that need nothing else."""
    return Settings.one_from_env("DATABASE_URL")


def plans_from_env() -> dict:
    """Just PLANS, for the operator CLI, which needs nothing else."""
    return Settings.one_from_env("PLANS")


def job_retention_days_from_env() -> int:
    """Just JOB_RETENTION_DAYS, for the operator CLI's imports."""
    return Settings.one_from_env("JOB_RETENTION_DAYS")
