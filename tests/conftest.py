"""Real services for every test: a private PostgreSQL database, a Redis key prefix and a RabbitMQ vhost per run.

Each run creates its own database (migrated once with Alembic, so migrations are exercised too), its own
RabbitMQ vhost and its own Redis key prefix, and removes them afterwards, so runs never collide.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import uuid
from contextlib import contextmanager

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from config import Settings
from smartcompute.accounts import services as accounts
from smartcompute.billing import ledger
from smartcompute.db import make_engine, make_session_factory
from smartcompute.accounts.models import User
from tests.support import Account, migrate, require_service, wait_until

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")
RUN_ID = f"{os.getpid()}_{secrets.token_hex(3)}"
TEST_CREDITS = 1_000_000
# Every payment provider is configured in tests, each with a secret generated for this run.
PAYMENT_PROVIDER_SECRETS = {
    "COINBASE_COMMERCE_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    "BTCPAY_WEBHOOK_SECRET": secrets.token_urlsafe(32),
    "NOWPAYMENTS_IPN_SECRET": secrets.token_urlsafe(32),
    "STANDARD_WEBHOOKS_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
}


# Fixtures that reach PostgreSQL, Redis or RabbitMQ; a test using one, even through another fixture, is `services`.
SERVICE_FIXTURES = frozenset({"database_url", "empty_database_url", "redis_prefix", "rabbitmq_vhost"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.services)


@pytest.fixture(scope="session")
def database_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    name = f"smartcompute_test_{RUN_ID}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    migrate(url, "head")
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_database_url():
    """A database of its own, with nothing in it, dropped after the test."""
    name = f"smartcompute_empty_{secrets.token_hex(4)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


class OwnDatabase:
    """A migrated database of one test's own, whose sessions the test may end or refuse, as a restart or
    failover does to its clients, without touching the run's shared database."""

    def __init__(self, url: str):
        self.url = url
        self.name = make_url(url).database
        # No pool: every look the test takes opens a connection of its own, so cutting them all costs it nothing.
        self.sessions = make_session_factory(create_engine(url, poolclass=NullPool))
        self.admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def cut_connections(self) -> None:
        """What a restart or failover does to every client: its session ends, with the locks it held. Every
        session is told at once; this returns once all have exited (their clients' sockets closed)."""
        with self.admin.connect() as connection:
            ended = (
                connection.execute(
                    text("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                    {"name": self.name},
                )
                .scalars()
                .all()
            )
            wait_until(
                lambda: (
                    not connection.execute(
                        text("SELECT 1 FROM pg_stat_activity WHERE pid = ANY(:pids)"), {"pids": ended}
                    ).first()
                ),
                10,
                "the sessions to end",
            )

    @contextmanager
    def refusing_connections(self):
        """Down: every session ends, and no new one is let in until the block ends."""
        with self.admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS false'))
        try:
            self.cut_connections()
            yield
        finally:
            with self.admin.connect() as connection:
                connection.execute(text(f'ALTER DATABASE "{self.name}" WITH ALLOW_CONNECTIONS true'))


@pytest.fixture
def own_database(empty_database_url):
    migrate(empty_database_url, "head")
    database = OwnDatabase(empty_database_url)
    yield database
    database.admin.dispose()


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    prefix = f"smartcompute-test:{RUN_ID}:"
    yield prefix
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture(scope="session")
def rabbitmq_vhost() -> str:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    vhost = f"smartcompute_test_{RUN_ID}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run(
        ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
        check=True,
        capture_output=True,
    )
    yield vhost
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)


@pytest.fixture(scope="session")
def base_env(database_url: str, redis_prefix: str) -> dict[str, str]:
    """Environment for the API and workers; secrets are generated for this run."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "BROKER_URL": REDIS_URL,
        "BROKER_KEY_PREFIX": redis_prefix,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "PAYMENT_WEBHOOK_SECRET": secrets.token_urlsafe(32),
        **PAYMENT_PROVIDER_SECRETS,
        "FLOWER_BASIC_AUTH": f"ops:{secrets.token_urlsafe(12)}",
        "LOG_LEVEL": "INFO",
        # Rate limits and quotas generous enough for the suite; tests/security tighten them where they test them.
        "RATE_LIMIT_KEY_PREFIX": f"{redis_prefix}rl",
        "ANONYMOUS_RATE_LIMIT": "100000/minute",
        "LOGIN_RATE_LIMIT_PER_EMAIL": "100000/minute",
        "LOGIN_RATE_LIMIT_PER_EMAIL_AND_ADDRESS": "100000/minute",
        "LOGIN_RATE_LIMIT_PER_ADDRESS": "100000/minute",
        "WEBHOOK_RATE_LIMIT_PER_ADDRESS": "100000/minute",
        "PLANS": ";".join(
            f"{plan}:requests=100000/minute,jobs_per_day=100000,concurrent_jobs=100000,"
            "points_per_job=10000000,api_keys=1000"
            for plan in ("free", "pro", "enterprise")
        ),
        # The run's database keeps the jobs tests leave queued: no installation's backlog to shed load for
        # (tests/web/test_load_shedding.py sets its own limits on a database of its own).
        "LOAD_SHED_QUEUED_JOBS": "0",
        "LOAD_SHED_WAIT_SECONDS": "0",
    }


@pytest.fixture(scope="session")
def rabbitmq_env(base_env: dict[str, str], rabbitmq_vhost: str) -> dict[str, str]:
    return {**base_env, "BROKER_URL": f"{RABBITMQ_URL}/{rabbitmq_vhost}"}


@pytest.fixture(scope="session")
def settings(base_env: dict[str, str]) -> Settings:
    return Settings.from_mapping(base_env)


@pytest.fixture(scope="session")
def sessions(database_url: str):
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings):
    from web import create_app

    return create_app(settings)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="session", autouse=True)
def _test_clients_close_responses():
    """Every app's test client is a BufferedClient, in every test."""
    Flask.test_client_class = BufferedClient
    yield
    Flask.test_client_class = None


class BufferedClient(FlaskClient):
    """Flask's test client, reading each response to its end and closing it as a WSGI server does, so the
    work a request leaves for after its response (web/after_response.py) has run when the call returns."""

    def open(self, *args, buffered: bool = True, **kwargs):
        return super().open(*args, buffered=buffered, **kwargs)


def make_account(
    sessions, role: str = "owner", account_of: Account | None = None, credits: int = TEST_CREDITS
) -> Account:
    email = f"user-{uuid.uuid4().hex[:12]}@example.test"
    password = secrets.token_urlsafe(16)
    with sessions() as session:
        user_id = accounts.create_user(
            session, email, password=password, role=role, account_id=account_of.account_id if account_of else None
        )
        _, key = accounts.create_api_key(session, user_id)
        session.commit()
        account_id = session.get(User, user_id).account_id
        if credits and account_of is None:  # test accounts can pay for jobs unless a test says otherwise
            ledger.grant(session, account_id, credits, f"test-grant:{account_id}")
            session.commit()
    return Account(email=email, password=password, api_key=key, user_id=user_id, account_id=account_id)


@pytest.fixture
def account(sessions) -> Account:
    return make_account(sessions)


@pytest.fixture
def other_account(sessions) -> Account:
    return make_account(sessions)
