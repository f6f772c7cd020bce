"""Rate limits per tier: how many decisions one key may ask for per minute and per day.

Counting is `limits`' fixed window over a storage every worker shares: by default the memory-mapped
counter file of govern.decisions.counters in the instance folder (one machine, no extra server, no
write to any database), or any storage `limits` knows by URI, e.g. Redis for several nodes
(GOVERN_RATELIMIT_STORAGE=redis://host:6379).

Counting fails closed, and fast: the counter file and Redis get `timeout` (the decision-log
timeout) for a whole count, so a locked file or a stalled Redis answers 503 within about that
time. Redis' own URI options (`?socket_timeout=...`) win over it; other storages keep theirs.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerMinute
from limits.errors import ConfigurationError, StorageError
from limits.storage import RedisStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from redis.backoff import NoBackoff
from redis.retry import Retry

# Importing it registers the mmap:// scheme with limits.
from govern.decisions.counters import MmapStorage
from govern.errors import ConfigError, ServiceUnavailable
from govern.policy.document import RateLimit

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 2.0


class RateLimitUnavailable(ServiceUnavailable):
    code = "rate_limit_unavailable"


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a key's rate limit as it stands: how many of `limit` decisions remain, and
    when (epoch seconds) the window restarts."""

    period: str  # "minute" or "day"
    limit: int
    remaining: int
    resets_at: float


class RateLimiter:
    """Counts decisions per key against the limit of the key's tier."""

    def __init__(self, storage_uri: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            self.storage = storage_from_string(storage_uri, wrap_exceptions=True,
                                               **_bounded_waits(storage_uri, timeout))
        except (ConfigurationError, ValueError) as error:
            raise ConfigError(f"GOVERN_RATELIMIT_STORAGE {storage_uri!r} cannot be used: {error}") from None
        self._limiter = FixedWindowRateLimiter(self.storage)
        self._items: dict[RateLimit, tuple[RateLimitItem, ...]] = {}

    def _items_for(self, limit: RateLimit) -> tuple[RateLimitItem, ...]:
        items = self._items.get(limit)
        if items is None:
            # The minute first: a key held back by it does not also use up its day.
            made: list[RateLimitItem] = []
            if limit.per_minute is not None:
                made.append(RateLimitItemPerMinute(limit.per_minute))
            if limit.per_day is not None:
                made.append(RateLimitItemPerDay(limit.per_day))
            items = self._items[limit] = tuple(made)
        return items

    def hit(self, limit: RateLimit | None, key_prefix: str, cost: int = 1) -> int | None:
        """Count `cost` decisions for the key. None while within `limit`; past it, the seconds
        until the window that refused them restarts (at least 1).

        Raises RateLimitUnavailable when the counters cannot be reached: govern fails closed."""
        if limit is None:
            return None
        try:
            for item in self._items_for(limit):
                if not self._limiter.hit(item, key_prefix, cost=cost):
                    reset_at = self._limiter.get_window_stats(item, key_prefix).reset_time
                    return max(1, math.ceil(reset_at - time.time()))
        except StorageError as error:
            log.error("rate-limit storage failed: %s", error)
            raise RateLimitUnavailable("the rate-limit counters cannot be reached; try again") from None
        return None

    def peek(self, limit: RateLimit | None, key_prefix: str) -> tuple[Window, ...]:
        """Each window of `limit` for the key as it stands, counting nothing (empty when the tier
        has no limit). Raises RateLimitUnavailable when the counters cannot be reached."""
        if limit is None:
            return ()
        try:
            windows = []
            for item in self._items_for(limit):
                stats = self._limiter.get_window_stats(item, key_prefix)
                period = "minute" if isinstance(item, RateLimitItemPerMinute) else "day"
                windows.append(Window(period, item.amount, stats.remaining, stats.reset_time))
        except StorageError as error:
            log.error("rate-limit storage failed: %s", error)
            raise RateLimitUnavailable("the rate-limit counters cannot be reached; try again") from None
        return tuple(windows)

    def close(self) -> None:
        if isinstance(self.storage, MmapStorage):
            self.storage.close()


def _bounded_waits(storage_uri: str, timeout: float) -> dict[str, Any]:
    """The options that bound each wait of the storage at `storage_uri` by `timeout` in all."""
    scheme = storage_uri.partition("://")[0]
    if scheme in MmapStorage.STORAGE_SCHEME:
        return {"timeout": timeout}
    if scheme in RedisStorage.STORAGE_SCHEME:
        # redis-py retries a timed-out command three times with a backoff by default: once,
        # straight away (a connection the server dropped), keeps the sum within `timeout`.
        return {"socket_timeout": timeout / 2, "socket_connect_timeout": timeout / 2,
                "retry": Retry(NoBackoff(), 1)}
    return {}
