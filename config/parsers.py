"""Parsers of settings written as text: each returns the value or raises ValueError saying what is wrong.

`config/settings.py` declares each setting with one of these (or one from `config/billing_settings.py` or
`config/plans.py`).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from smartcompute.numbers import whole_number


def database_url(value: str) -> str:
    # PaaS hand out postgres://; SQLAlchemy only knows postgresql://.
    if value.startswith("postgres://"):
        value = "postgresql://" + value[len("postgres://") :]
    if not value.startswith(("postgresql://", "postgresql+psycopg2://")):
        raise ValueError("must be a postgresql:// URL")
    return value


def broker_url(value: str) -> str:
    if urlsplit(value).scheme not in {"redis", "rediss", "redis+socket", "amqp", "amqps", "pyamqp"}:
        raise ValueError("must be a redis://, redis+socket:// or amqp:// URL")
    return value


def redis_url(value: str) -> str:
    if urlsplit(value).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def secret(value: str) -> str:
    if len(value) < 16:
        raise ValueError("must be at least 16 characters")
    return value


def basic_auth(value: str) -> str:
    user, _, password = value.partition(":")
    if not user or not password:
        raise ValueError("must be user:password")
    return value


def directory(value: str) -> str:
    if not os.path.isdir(value):
        raise ValueError("must be an existing directory")
    return value


def positive_int(value: str) -> int:
    number = whole_number(value.strip())
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def port(value: str) -> int:
    number = whole_number(value.strip())
    if not 0 < number < 65536:
        raise ValueError("must be a TCP port")
    return number


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
        raise ValueError("must be true or false")
    return lowered in {"1", "true", "yes", "on"}


def non_negative_int(value: str) -> int:
    number = whole_number(value.strip())
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def origins(value: str) -> tuple[str, ...]:
    origins = tuple(origin.strip().rstrip("/") for origin in value.split(",") if origin.strip())
    for origin in origins:
        if origin == "*" or urlsplit(origin).scheme not in {"http", "https"} or not urlsplit(origin).netloc:
            raise ValueError(f"{origin!r} is not an origin such as https://app.example.com")
    return origins


def smtp_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"smtp", "smtps"} or not parts.hostname:
        raise ValueError("must be smtp://host[:port] or smtps://user:password@host[:port]")
    return value


def mail_address(value: str) -> str:
    from email.headerregistry import Address
    from email.utils import parseaddr

    name, address = parseaddr(value)
    if "@" not in address or any(character in value for character in "\r\n"):
        raise ValueError("must be an address such as SmartCompute <no-reply@example.com>")
    return str(Address(display_name=name, addr_spec=address))


def positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError("must be a positive number of seconds")
    return number


def non_negative_seconds(value: str) -> float:
    number = float(value)
    if not number >= 0:
        raise ValueError("must be zero or a positive number of seconds")
    return number


_SIZE_UNITS = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}


def byte_size(value: str) -> int:
    number, unit = value.strip().upper(), ""
    while number and not number[-1].isdigit():
        number, unit = number[:-1], number[-1] + unit
    if not number.isdigit() or unit.strip() not in _SIZE_UNITS or int(number) <= 0:
        raise ValueError("must be a positive size such as 100MB, 512KiB or 1048576")
    return int(number) * _SIZE_UNITS[unit.strip()]


def host_name(value: str) -> str:
    if not 0 < len(value) <= 255:
        raise ValueError("must be 1 to 255 characters")
    return value


def readable_file(value: str) -> str:
    if not os.path.isfile(value):
        raise ValueError("must be an existing file")
    return value


def redis_as_broker(redis_url: str) -> str:
    # redis-py writes a unix socket as unix://; kombu's Redis transport spells it redis+socket://.
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url[len("unix://") :]
    return redis_url
