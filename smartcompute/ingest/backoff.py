"""How long to wait before trying the API again."""

from __future__ import annotations

import random
from collections.abc import Callable


class Backoff:
    """Exponential backoff with full jitter (a random wait up to a ceiling that doubles with each failure, so
    many clients coming back after one outage spread out), never shorter than the server's Retry-After."""

    def __init__(self, *, first: float = 1.0, ceiling: float = 300.0, rng: Callable[[], float] = random.random):
        self.first, self.ceiling, self._rng = first, ceiling, rng
        self.failures = 0

    def next_delay(self, retry_after: float | None = None) -> float:
        limit = min(self.ceiling, self.first * 2 ** min(self.failures, 32))
        self.failures += 1
        return max(self._rng() * limit, retry_after or 0.0)

    def reset(self) -> None:
        self.failures = 0
