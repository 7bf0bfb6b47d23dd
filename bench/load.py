"""HTTP load: closed-loop clients for throughput, and an open-loop schedule for latency.

Both use one `aiohttp.ClientSession` on an asyncio loop: on this machine it costs ~0.15 ms of CPU per
28 KB POST where `httpx.AsyncClient` costs ~3.3 ms, and the generator shares two cores with what it measures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import ssl
import time
from dataclasses import dataclass, field
from collections.abc import Awaitable, Callable

import aiohttp


@dataclass
class ClosedLoopResult:
    sent: int
    errors: dict[str, int]
    first_send: float  # time.time() of the first request
    last_response: float
    job_ids: list[str] = field(default_factory=list)


@dataclass
class OpenLoopResult:
    offered_rate: float
    latencies_ms: list[float]  # from each request's scheduled send time to its response
    errors: dict[str, int]
    lag_ms_max: float  # how late the generator itself sent, at worst

    def percentile(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Response:
    status: int
    body: bytes


class Client:
    """A thin session wrapper: requests return status and body once the whole response has been read."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        connections: int,
        timeout: float,
        tls: ssl.SSLContext | None = None,
    ):
        self._session = aiohttp.ClientSession(
            base_url=base_url,
            headers=headers,
            connector=aiohttp.TCPConnector(limit=connections, ssl=tls or True),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )

    async def request(self, method: str, path: str, **kwargs) -> Response:
        async with self._session.request(method, path, **kwargs) as response:
            return Response(response.status, await response.read())

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self._session.close()


ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)


def _client(
    base_url: str, headers: dict[str, str], connections: int, timeout: float, tls: ssl.SSLContext | None = None
) -> Client:
    return Client(base_url, headers, connections, timeout, tls)


def _count(errors: dict[str, int], key: str) -> None:
    errors[key] = errors.get(key, 0) + 1


async def _closed_loop(
    base_url: str, path: str, body: bytes, headers: dict[str, str], total: int, clients: int, time_limit: float
) -> ClosedLoopResult:
    remaining = [total]
    errors: dict[str, int] = {}
    job_ids: list[str] = []
    first_send: list[float] = []
    deadline = time.monotonic() + time_limit

    async def one_client(client: Client) -> None:
        while remaining[0] > 0 and time.monotonic() < deadline:
            remaining[0] -= 1
            if not first_send:
                first_send.append(time.time())
            try:
                response = await client.request("POST", path, data=body)
            except ERRORS as error:
                _count(errors, type(error).__name__)
                continue
            if response.status in (200, 201, 202):
                job_ids.append(json.loads(response.body)["id"])
            else:
                _count(errors, f"HTTP {response.status}")

    async with _client(base_url, {**headers, "Content-Type": "application/json"}, clients, 30) as client:
        await asyncio.gather(*(one_client(client) for _ in range(clients)))
    return ClosedLoopResult(
        total - max(remaining[0], 0), errors, first_send[0] if first_send else time.time(), time.time(), job_ids
    )


def closed_loop(
    base_url: str, path: str, body: bytes, headers: dict[str, str], *, total: int, clients: int, time_limit: float
) -> ClosedLoopResult:
    """`clients` concurrent clients each POST `body` in a loop until `total` are sent (or time runs out)."""
    return asyncio.run(_closed_loop(base_url, path, body, headers, total, clients, time_limit))


async def _open_loop(
    base_url: str,
    headers: dict[str, str],
    rate: float,
    count: int,
    request: Callable[[Client, int], Awaitable[Response]],
    tls: ssl.SSLContext | None,
) -> OpenLoopResult:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    lag = [0.0]

    async def timed(client: Client, index: int, scheduled: float) -> None:
        lag[0] = max(lag[0], time.perf_counter() - scheduled)
        try:
            response = await request(client, index)
        except ERRORS as error:
            _count(errors, type(error).__name__)
            return
        if response.status >= 400:
            _count(errors, f"HTTP {response.status}")
            return
        latencies.append((time.perf_counter() - scheduled) * 1000)

    # Enough connections that a slow response never holds back the next scheduled send.
    async with _client(base_url, headers, 256, 10, tls) as client:
        start = time.perf_counter() + 0.05
        tasks = []
        for index in range(count):
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(timed(client, index, scheduled)))
        await asyncio.gather(*tasks)
    return OpenLoopResult(rate, latencies, errors, lag[0] * 1000)


def open_loop(
    base_url: str,
    headers: dict[str, str],
    *,
    rate: float,
    count: int,
    request: Callable[[Client, int], Awaitable[Response]],
    tls: ssl.SSLContext | None = None,
) -> OpenLoopResult:
    """Send `count` requests at a fixed `rate` whatever the responses; latency counts from the schedule; `tls`
    is the context that verifies an HTTPS server (the edge's own certificate).

    What the generator holds when the run starts (earlier phases' job ids and results) is frozen out of its
    garbage collector's reach, as the API does with its loaded app: a full collection over it stalled the
    generator's event loop by about 60 ms, and every request due meanwhile counted that wait as latency.
    """
    gc.collect()
    gc.freeze()
    try:
        return asyncio.run(_open_loop(base_url, headers, rate, count, request, tls))
    finally:
        gc.unfreeze()
