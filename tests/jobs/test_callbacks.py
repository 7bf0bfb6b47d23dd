"""Job callbacks: which URLs we send to, how a notification is signed and sent, and the outbox's schedule."""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from datetime import timedelta

import pytest
import standardwebhooks
from sqlalchemy import select, update

from smartcompute.db import utcnow
from smartcompute.jobs import callback_http, callbacks, lifecycle
from smartcompute.jobs.models import JobCallback
from smartcompute.jobs.schemas import JobFinished
from tests.receiver import Receiver
from tests.support import submit_directly

LEASE = timedelta(seconds=60)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/smartcompute",
        "http://hooks.example.com:8080/a/b?c=d",
        "https://93.184.215.14/x",
        "https://[2606:4700::1111]/x",
        "https://[64:ff9b::808:808]/x",
        "https://[2002:808:808::1]/x",  # NAT64 and 6to4 of a public address
    ],
)
def test_public_http_and_https_urls_are_accepted(url):
    assert callbacks.checked_url(url, allow_private=False) == url


@pytest.mark.parametrize(
    "url, reason",
    [
        ("ftp://example.com/x", "absolute http or https"),
        ("/relative/path", "absolute http or https"),
        ("https://", "absolute http or https"),
        ("https://user:pass@example.com/x", "user name or password"),
        ("https://example.com/x#frag", "fragment"),
        ("https://example.com/a b", "spaces or control characters"),
        ("https://example.com:99999/x", "not a valid URL"),
        ("https://example.com/" + "a" * 2048, "at most 2048"),
        ("http://127.0.0.1:8000/x", "private, loopback or link-local"),
        ("http://localhost/x", "private, loopback or link-local"),
        ("http://169.254.169.254/latest/meta-data/", "private, loopback or link-local"),
        ("http://10.1.2.3/x", "private, loopback or link-local"),
        ("http://[::1]/x", "private, loopback or link-local"),
        ("http://[::ffff:127.0.0.1]/x", "private, loopback or link-local"),
        ("http://[::127.0.0.1]/x", "private, loopback or link-local"),  # IPv4-compatible: deprecated, always refused
        ("http://[::8.8.8.8]/x", "private, loopback or link-local"),
        ("http://[::ffff:0:10.0.0.1]/x", "private, loopback or link-local"),  # SIIT-translated: obsolete
        ("http://[64:ff9b::127.0.0.1]/x", "private, loopback or link-local"),  # NAT64 to loopback
        ("http://[64:ff9b::a9fe:a9fe]/x", "private, loopback or link-local"),  # NAT64 to 169.254.169.254
        ("http://[64:ff9b:1::808:808]/x", "private, loopback or link-local"),  # local-use NAT64
        ("http://[2002:c0a8:101::1]/x", "private, loopback or link-local"),  # 6to4 of 192.168.1.1
        ("http://[2002:7f00:1::]/x", "private, loopback or link-local"),  # 6to4 of 127.0.0.1
        ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x", "private, loopback or link-local"),  # Teredo
        ("http://0.0.0.0/x", "private, loopback or link-local"),
        ("http://metadata.google.internal/x", "private, loopback or link-local"),
    ],
)
def test_unusable_urls_are_refused_with_the_reason(url, reason):
    with pytest.raises(callbacks.CallbackUrlError, match=reason):
        callbacks.checked_url(url, allow_private=False)


def test_private_addresses_are_accepted_where_the_operator_allows_them():
    assert callbacks.checked_url("http://127.0.0.1:9000/x", allow_private=True) == "http://127.0.0.1:9000/x"


def test_the_signature_verifies_with_the_standard_webhooks_reference_library():
    secret, body = callbacks.new_secret(), b'{"type":"job.finished"}'
    headers = callbacks.signature_headers(secret, "job-1", int(utcnow().timestamp()), body)
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"type": "job.finished"}
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(callbacks.new_secret()).verify(body, headers)


def _post(url: str, *, allow_private: bool = True, timeout: float = 5.0) -> callbacks.Outcome:
    return callback_http.post(url, b"{}", {"webhook-id": "x"}, timeout=timeout, allow_private=allow_private)


def test_a_2xx_answer_is_a_delivery_and_the_receiver_gets_path_query_and_headers():
    with Receiver((202,)) as receiver:
        outcome = _post(receiver.url)
    assert outcome == callbacks.Outcome(True, status=202)
    [received] = receiver.received
    assert received.path == "/hooks/jobs?team=7" and received.body == b"{}"
    assert received.headers["webhook-id"] == "x" and received.headers["content-type"] == "application/json"


def test_a_private_address_is_never_contacted_unless_allowed():
    with Receiver() as receiver:
        outcome = _post(receiver.url, allow_private=False)
    assert not outcome.delivered and "private, loopback or link-local" in outcome.error
    assert receiver.received == []


@pytest.mark.parametrize(
    "answers",
    [
        ["10.0.0.5"],
        ["93.184.215.14", "127.0.0.1"],
        ["::ffff:169.254.169.254"],
        ["64:ff9b::a00:5"],
        ["2002:a00:5::1"],
        ["::10.0.0.5"],
    ],
)
def test_a_name_that_resolves_to_any_private_address_is_refused_before_connecting(monkeypatch, answers):
    """What a DNS rebinding attack looks like from here: a public-looking name whose answer is internal."""

    def resolve(host, port, *args, **kwargs):
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in answers
        ]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with pytest.raises(callback_http.Refused, match="resolves to a private"):
        callback_http.vetted_address("hooks.example.com", 443, allow_private=False)
    assert callback_http.vetted_address("hooks.example.com", 443, allow_private=True) == answers[0]


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch):
    with Receiver() as receiver:
        port = int(receiver.url.split(":")[2].split("/")[0])
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))],
        )
        outcome = _post(f"http://hooks.example.com:{port}/x")
    assert outcome.delivered and receiver.received[0].headers["host"] == f"hooks.example.com:{port}"


def test_an_error_answer_is_not_a_delivery_and_410_gone_stops_the_retries():
    with Receiver((500, 410)) as receiver:
        first, second = _post(receiver.url), _post(receiver.url)
    assert (first.delivered, first.status, first.final) == (False, 500, False)
    assert (second.delivered, second.status, second.final) == (False, 410, True)


def test_a_redirect_is_not_followed():
    with Receiver() as target, Receiver((302,), location=target.url) as receiver:
        outcome = _post(receiver.url)
    assert not outcome.delivered and outcome.status == 302
    assert len(receiver.received) == 1 and target.received == []


def test_a_receiver_that_does_not_answer_in_time_is_an_error_not_a_hang():
    with Receiver(delay=3) as receiver:
        outcome = _post(receiver.url, timeout=0.5)
    assert not outcome.delivered and outcome.status is None and "no answer" in outcome.error


def test_an_unresolvable_host_is_an_error():
    outcome = _post("http://no-such-host.invalid/x")
    assert not outcome.delivered and "cannot resolve" in outcome.error


def _submit(sessions, account) -> uuid.UUID:
    with sessions() as session:
        return submit_directly(session, account, callback_url="https://hooks.example.com/x")


@pytest.fixture
def submitted(sessions, account) -> uuid.UUID:
    return _submit(sessions, account)


def _finish(sessions, job_id) -> None:
    with sessions() as session:
        lifecycle.fail(session, job_id, {"type": "test", "message": "done"})
        session.commit()


def _claim(sessions, job_id):
    with sessions() as session:
        return callbacks.claim(session, job_id, lease=LEASE)


def _first_attempt(sessions, job_id, outcome: callbacks.Outcome, *, hung: bool = False) -> None:
    """The job finishes and its callback's first attempt ends with `outcome`."""
    _finish(sessions, job_id)
    delivery = _claim(sessions, job_id)
    with sessions() as session:
        callbacks.record(session, delivery, outcome, hung=hung)
        session.commit()


def _hang(sessions, job_id) -> None:
    _first_attempt(sessions, job_id, callbacks.Outcome(False, error="no answer: read timed out"), hung=True)


def _row(sessions, job_id) -> JobCallback:
    with sessions() as session:
        return session.scalar(select(JobCallback).where(JobCallback.job_id == job_id))


def test_a_job_submitted_with_a_callback_has_one_pending_in_the_same_transaction(sessions, submitted):
    row = _row(sessions, submitted)
    assert row.url == "https://hooks.example.com/x" and row.attempts == 0 and row.delivered_at is None


def test_nothing_is_sent_before_the_job_finishes(sessions, submitted):
    assert _claim(sessions, submitted) is None


def test_a_claimed_attempt_carries_the_thin_notification_and_holds_a_lease(sessions, submitted, account):
    _finish(sessions, submitted)
    delivery = _claim(sessions, submitted)
    assert delivery.attempt == 1 and delivery.secret.startswith("whsec_")
    body = json.loads(delivery.body)
    assert body["type"] == "job.finished" and body["data"]["id"] == str(submitted)
    assert body["data"]["status"] == "failed" and body["data"]["error"]["type"] == "test"
    assert body["data"]["url"] == f"/v1/jobs/{submitted}" and "result" not in body["data"]
    JobFinished.model_validate_json(delivery.body)  # what the OpenAPI document promises receivers
    assert _claim(sessions, submitted) is None  # a second worker finds the attempt taken


def test_the_secret_is_the_accounts_until_rotated(sessions, submitted, account):
    _finish(sessions, submitted)
    with sessions() as session:
        before = callbacks.account_secret(session, account.account_id)
        session.commit()
    assert _claim(sessions, submitted).secret == before
    with sessions() as session:
        assert callbacks.rotate_secret(session, account.account_id) != before


def test_a_failed_attempt_waits_for_its_retry_and_is_then_due(sessions, submitted):
    _finish(sessions, submitted)
    delivery = _claim(sessions, submitted)
    with sessions() as session:
        callbacks.record(session, delivery, callbacks.Outcome(False, status=503, error="the receiver answered 503"))
        session.commit()
    row = _row(sessions, submitted)
    assert row.last_status == 503 and row.next_attempt_at > utcnow() + timedelta(seconds=5)
    assert _claim(sessions, submitted) is None
    _move_retry_to_now(sessions, submitted)
    assert submitted in _due(sessions)
    assert submitted not in _due(sessions)  # the task sent for it is not sent twice
    assert _claim(sessions, submitted).attempt == 2


def test_after_the_last_attempt_the_callback_is_given_up(sessions, submitted):
    _finish(sessions, submitted)
    for attempt in range(1, callbacks.MAX_ATTEMPTS + 1):
        delivery = _claim(sessions, submitted)
        assert delivery.attempt == attempt
        with sessions() as session:
            callbacks.record(session, delivery, callbacks.Outcome(False, error="no answer: refused"))
            session.commit()
        _move_retry_to_now(sessions, submitted)
    row = _row(sessions, submitted)
    assert row.given_up_at is not None and row.next_attempt_at is None and row.last_error == "no answer: refused"
    assert _claim(sessions, submitted) is None and submitted not in _due(sessions)


def test_a_delivered_callback_is_never_sent_again(sessions, submitted):
    _first_attempt(sessions, submitted, callbacks.Outcome(True, status=200))
    _move_retry_to_now(sessions, submitted)
    assert _claim(sessions, submitted) is None and submitted not in _due(sessions)
    with sessions() as session:
        assert callbacks.view_of(session, submitted)["status"] == "delivered"


def test_a_first_attempt_whose_task_was_lost_becomes_due(sessions, submitted):
    _finish(sessions, submitted)
    assert submitted not in _due(sessions, unsent_after=timedelta(minutes=5))
    assert submitted in _due(sessions, unsent_after=timedelta(0))


def _move_retry_to_now(sessions, job_id) -> None:
    with sessions() as session:
        session.execute(
            update(JobCallback)
            .where(JobCallback.job_id == job_id, JobCallback.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()


def _due(sessions, unsent_after: timedelta = timedelta(seconds=10)) -> list[uuid.UUID]:
    with sessions() as session:
        due = callbacks.due(session, unsent_after=unsent_after, resend_after=timedelta(minutes=15), limit=10_000)
        session.commit()
    return due


@pytest.fixture
def tls_receiver(tmp_path):
    """An HTTPS receiver on 127.0.0.1 whose self-signed certificate is for hooks.test."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.test")])
    now = utcnow()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.test")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    with Receiver(tls=context) as receiver:
        yield receiver, tmp_path / "cert.pem"


def _resolve_everything_to_localhost(monkeypatch) -> None:
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))],
    )


def test_https_checks_the_certificate_against_the_name_in_the_url(monkeypatch, tls_receiver):
    receiver, certificate = tls_receiver
    _resolve_everything_to_localhost(monkeypatch)
    url = f"https://hooks.test:{receiver.port}/x"
    untrusted = _post(url)
    assert (
        not untrusted.delivered and "TLS failed" in untrusted.error and "certificate verify failed" in untrusted.error
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
    assert _post(url).delivered
    wrong_name = _post(f"https://other.test:{receiver.port}/x")
    assert not wrong_name.delivered and "doesn't match" in wrong_name.error
    assert len(receiver.received) == 1


def test_after_an_attempt_left_hanging_every_worker_leaves_the_account_alone_for_a_minute(sessions, submitted, account):
    _hang(sessions, submitted)
    later = _submit(sessions, account)
    _finish(sessions, later)
    delivery = _claim(sessions, later)  # what any worker process, on any machine, would claim next
    now = utcnow()
    assert callbacks.is_quiet(delivery, now)
    assert not callbacks.is_quiet(delivery, now + timedelta(seconds=callbacks.QUIET_SECONDS + 1))


def test_a_delivery_ends_the_quiet_at_once(sessions, submitted, account):
    _hang(sessions, submitted)
    later, last = _submit(sessions, account), _submit(sessions, account)
    _first_attempt(sessions, later, callbacks.Outcome(True, status=204))
    _finish(sessions, last)
    assert not callbacks.is_quiet(_claim(sessions, last), utcnow())


def test_only_a_long_attempt_without_a_2xx_counts_as_left_hanging():
    assert callbacks.left_hanging(callbacks.Outcome(False, error="no answer"), seconds=5.0, timeout=5)
    assert not callbacks.left_hanging(callbacks.Outcome(False, status=500), seconds=0.05, timeout=5)
    assert not callbacks.left_hanging(callbacks.Outcome(True, status=204), seconds=4.0, timeout=5)
