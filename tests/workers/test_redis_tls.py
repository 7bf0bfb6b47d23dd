"""A rediss:// broker and Redis are spoken over TLS, with the server's certificate verified unless the URL says
otherwise: managed Redis (a PaaS's REDIS_URL) is often TLS only. Runs a private TLS-only redis-server."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from kombu import Exchange, Producer, Queue

from config import Settings
from tests.conftest import make_account
from tests.support import (
    celery_worker,
    free_port,
    job_body,
    redis_server_command,
    stop_process_group,
    wait_until,
)
from tests.workers.conftest import wait_for_status
from web import create_app
from workers.celery_app import create_celery_app


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory) -> tuple[int, Path]:
    """A redis-server listening only for TLS on a free port, with a self-signed certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("tls-redis")
    certificate, key = directory / "certificate.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(certificate),
        ],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        redis_server_command(
            directory,
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--tls-cert-file",
            str(certificate),
            "--tls-key-file",
            str(key),
            "--tls-ca-cert-file",
            str(certificate),
            "--tls-auth-clients",
            "no",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: _accepts(port) or server.poll() is not None, 10, "the TLS redis-server to listen")
        assert server.poll() is None, "redis-server exited: is it built with TLS?"
        yield port, certificate
    finally:
        stop_process_group(server, grace=5)


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _settings(base_env: dict[str, str], redis_url: str) -> dict[str, str]:
    env = {**base_env, "REDIS_URL": redis_url}
    env.pop("BROKER_URL", None)  # the broker defaults to REDIS_URL, as on a PaaS with one Redis add-on
    return env


def _round_trip(env: dict[str, str]) -> dict:
    """Publish a message through the workers' Celery configuration and take it back."""
    celery = create_celery_app(Settings.from_mapping(env))
    name = f"test-tls-{uuid.uuid4().hex}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, auto_delete=True)
    with celery.connection_for_write() as connection:
        Producer(connection.default_channel).publish(
            {"over": "tls"}, exchange=queue.exchange, routing_key=name, declare=[queue]
        )
        return queue(connection.default_channel).get(no_ack=True).payload


def test_a_rediss_broker_is_spoken_over_tls_and_its_certificate_verified(tls_redis, base_env, monkeypatch):
    port, certificate = tls_redis
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))  # the system's trust store, as far as OpenSSL knows
    assert _round_trip(_settings(base_env, f"rediss://127.0.0.1:{port}/0")) == {"over": "tls"}


def test_a_rediss_broker_whose_certificate_cannot_be_verified_is_refused(tls_redis, base_env, monkeypatch):
    port, _certificate = tls_redis
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
        _round_trip(_settings(base_env, f"rediss://127.0.0.1:{port}/0"))


@pytest.mark.parametrize("parameters", ["ssl_ca_certs={certificate}", "ssl_cert_reqs=none"])
def test_a_rediss_url_may_name_its_ca_or_turn_verification_off(tls_redis, base_env, monkeypatch, parameters):
    port, certificate = tls_redis
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    url = f"rediss://127.0.0.1:{port}/0?{parameters.format(certificate=certificate)}"
    assert _round_trip(_settings(base_env, url)) == {"over": "tls"}


def test_a_job_runs_end_to_end_over_a_tls_redis(tls_redis, base_env, sessions, tmp_path, monkeypatch):
    port, certificate = tls_redis
    env = _settings(base_env, f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={certificate}")
    client = create_app(env).test_client()
    assert client.get("/health/ready").get_json()["checks"] == {"database": "ok", "broker": "ok", "redis": "ok"}
    account = make_account(sessions)
    with celery_worker(env, tmp_path):
        submitted = client.post("/v1/jobs", json=job_body(), headers=account.headers)
        assert submitted.status_code == 202
        job_id = submitted.get_json()["id"]
        wait_for_status(sessions, job_id, ("succeeded",))
    polled = client.get(f"/v1/jobs/{job_id}", headers=account.headers).get_json()
    assert polled["status"] == "succeeded" and polled["result"]["summary"]["metrics"] == 2
