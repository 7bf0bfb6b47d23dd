"""The one place SmartCompute reads its settings from the environment.

Each setting is one line: its name, how it is parsed, and its default (or `REQUIRED`). Tests and tools
build `Settings` from a plain dict; nothing here runs at import time.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Mapping
from urllib.parse import urlsplit

REQUIRED = object()


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


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def _port(value: str) -> int:
    number = int(value)
    if not 0 < number < 65536:
        raise ValueError("must be a TCP port")
    return number


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        raise ValueError("must be true or false")
    return lowered in {"1", "true", "yes", "on"}


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    return lambda value: parse(value) if value else None


def _setting(parse: Callable[[str], Any], default: Any = REQUIRED, doc: str = "") -> Any:
    return field(default=None, metadata={"parse": parse, "default": default, "doc": doc})


@dataclass(frozen=True)
class Settings:
    DATABASE_URL: str = _setting(_database_url, doc="PostgreSQL, the source of truth")
    REDIS_URL: str = _setting(_redis_url, doc="Redis for rate limits, locks and (by default) the broker")
    BROKER_URL: str = _setting(_broker_url, default=None, doc="Celery broker; defaults to REDIS_URL")
    BROKER_KEY_PREFIX: str = _setting(str, default="", doc="Redis broker key prefix (isolates test runs)")
    SECRET_KEY: str = _setting(_secret)
    JWT_SECRET_KEY: str = _setting(_secret)
    JWT_ACCESS_TOKEN_MINUTES: int = _setting(_positive_int, default="15")
    PAYMENT_WEBHOOK_SECRET: str | None = _setting(_optional(_secret), default="")
    FLOWER_BASIC_AUTH: str | None = _setting(_optional(_basic_auth), default="")
    PORT: int = _setting(_port, default="8000")
    FLOWER_PORT: int = _setting(_port, default="5555")
    MAX_CONTENT_LENGTH: int = _setting(_positive_int, default=str(10 * 1024 * 1024))
    MAX_POINTS_PER_JOB: int = _setting(_positive_int, default="200000")
    JOB_RETENTION_DAYS: int = _setting(_positive_int, default="30")
    JOB_SOFT_TIME_LIMIT: int = _setting(_positive_int, default="300", doc="seconds before a job is failed")
    JOB_HARD_TIME_LIMIT: int = _setting(_positive_int, default="330", doc="seconds before its process is killed")
    JOB_MAX_ATTEMPTS: int = _setting(_positive_int, default="3", doc="deliveries before a job is failed")
    REPUBLISH_INTERVAL: int = _setting(_positive_int, default="15", doc="seconds between re-publisher runs")
    REPUBLISH_UNSENT_AFTER: int = _setting(_positive_int, default="10", doc="seconds a never-sent job waits")
    REPUBLISH_STALE_AFTER: int = _setting(_positive_int, default="900", doc="seconds a sent job may sit queued")
    BROKER_VISIBILITY_TIMEOUT: int = _setting(_positive_int, default="", doc="Redis broker redelivery delay")
    TASK_EVENTS: bool = _setting(_boolean, default="true", doc="send task events for Flower")
    LOG_LEVEL: str = _setting(str.upper, default="INFO")

    def __post_init__(self) -> None:
        if self.BROKER_URL is None:
            object.__setattr__(self, "BROKER_URL", _broker_url(_redis_as_broker(self.REDIS_URL)))
        if self.BROKER_VISIBILITY_TIMEOUT is None:
            object.__setattr__(self, "BROKER_VISIBILITY_TIMEOUT", self.JOB_HARD_TIME_LIMIT + 60)
        if self.JOB_HARD_TIME_LIMIT <= self.JOB_SOFT_TIME_LIMIT:
            raise ConfigError("JOB_HARD_TIME_LIMIT: must be greater than JOB_SOFT_TIME_LIMIT")

    @property
    def broker_is_redis(self) -> bool:
        return self.BROKER_URL.startswith(("redis", "rediss"))

    @classmethod
    def from_mapping(cls, values: Mapping[str, str]) -> "Settings":
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
    def from_env(cls) -> "Settings":
        return cls.from_mapping(os.environ)


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
