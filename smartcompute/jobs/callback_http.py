"""Sending one callback over HTTP, to the customer's URL and nowhere else.

The URL is the customer's, so this is where server-side request forgery would happen (OWASP API7:2023). The
host name is resolved here, every address it resolves to must be public (unless private networks are
allowed), and the connection goes to the address that was checked: a name that resolves to a public address
for the check and to 127.0.0.1 for the connection (DNS rebinding) gets nowhere. Redirects are not followed,
and only the status line of the answer is read.
"""

from __future__ import annotations

import concurrent.futures
import ipaddress
import socket
import time
from urllib.parse import urlsplit

import urllib3

from smartcompute.jobs.callbacks import Outcome, is_private_host, is_public_address

USER_AGENT = "SmartCompute-Callbacks/1"


class Refused(Exception):
    """Not sent: the URL's host cannot be reached, or may not be."""


def post(url: str, body: bytes, headers: dict[str, str], *, timeout: float, allow_private: bool) -> Outcome:
    """POST `body`; delivered on any 2xx. Never raises for what the receiver or the network does, and takes
    about `timeout` seconds at most, name resolution included: the caller is a worker process the analyses
    share, and a receiver that hangs must not hold it longer."""
    parts = urlsplit(url)
    port = parts.port or _default_port(parts.scheme)
    deadline = time.monotonic() + timeout
    try:
        address = vetted_address(parts.hostname or "", port, allow_private=allow_private, timeout=timeout)
    except Refused as error:
        return Outcome(False, error=str(error))
    timeout = max(deadline - time.monotonic(), 0.1)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    pool = _pool(parts.scheme, address, port, parts.hostname, timeout)
    request_headers = {
        **headers,
        "Host": parts.netloc.rpartition("@")[2],
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }
    try:
        response = pool.urlopen(
            "POST",
            target,
            body=body,
            headers=request_headers,
            redirect=False,
            retries=False,
            preload_content=False,
            assert_same_host=False,
        )
    except urllib3.exceptions.SSLError as error:
        return Outcome(False, error=f"TLS failed: {_reason(error)}")
    except urllib3.exceptions.HTTPError as error:
        return Outcome(False, error=f"no answer: {_reason(error)}")
    finally:
        pool.close()
    status = response.status
    response.release_conn()
    if 200 <= status < 300:
        return Outcome(True, status=status)
    return Outcome(False, status=status, error=f"the receiver answered {status}", final=status == 410)


def vetted_address(host: str, port: int, *, allow_private: bool, timeout: float = 5.0) -> str:
    """One address of `host` to connect to; Refused if it has none or, unless allowed, any that is private."""
    if not allow_private and is_private_host(host):
        raise Refused(f"{host} is a private, loopback or link-local address")
    resolving = _resolver().submit(socket.getaddrinfo, host.strip("[]"), port, type=socket.SOCK_STREAM)
    try:
        infos = resolving.result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise Refused(f"cannot resolve {host}: no answer within {timeout:g} s") from None
    except (OSError, UnicodeError) as error:
        raise Refused(f"cannot resolve {host}: {error}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise Refused(f"{host} has no address")
    private = [address for address in addresses if not is_public_address(ipaddress.ip_address(address.split("%")[0]))]
    if private and not allow_private:
        raise Refused(f"{host} resolves to a private, loopback or link-local address ({private[0]})")
    return addresses[0]


_resolvers: list[concurrent.futures.ThreadPoolExecutor] = []


def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    """Threads for getaddrinfo, which has no timeout of its own; one that outlives its caller's wait ends when
    the system resolver gives up. Made on first use (a worker process forks before it sends anything)."""
    if not _resolvers:
        _resolvers.append(concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="callback-dns"))
    return _resolvers[0]


def _pool(scheme: str, address: str, port: int, hostname: str | None, timeout: float) -> urllib3.HTTPConnectionPool:
    timeouts = urllib3.Timeout(total=timeout)
    if scheme == "https":
        # TLS checks the certificate against the name in the URL, while the socket goes to the vetted address.
        # The system's trust store (SSL_CERT_FILE / SSL_CERT_DIR can point at an internal CA's).
        return urllib3.HTTPSConnectionPool(
            address,
            port,
            timeout=timeouts,
            maxsize=1,
            cert_reqs="CERT_REQUIRED",
            server_hostname=hostname,
            assert_hostname=hostname,
        )
    return urllib3.HTTPConnectionPool(address, port, timeout=timeouts, maxsize=1)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _reason(error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return str(reason)[:300]
