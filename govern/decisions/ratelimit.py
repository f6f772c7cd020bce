"""Rate limits per tier: how many decisions one key or identity, and one organisation with all its
keys together, may ask for per minute and per day.

Counting is a fixed window over a `limits` storage every worker shares: by default the memory-mapped
counter file of govern.decisions.counters in the instance folder (one machine, no extra server, no
write to any database), or any storage `limits` knows by URI, e.g. Redis for several nodes
(GOVERN_RATELIMIT_STORAGE=redis://host:6379).

Counting fails closed, and fast: the counter file and Redis get `timeout` (the decision-log
timeout) for a whole count, so a locked file or a stalled Redis answers 503 within about that
time. Redis' own URI options (`?socket_timeout=...`) win over it; other storages keep theirs.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

from limits.errors import ConfigurationError, StorageError
from limits.storage import RedisStorage, Storage, storage_from_string
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


PERIOD_SECONDS = {"minute": 60, "day": 86_400}
# Takes back what a count took and did not use, only from a window still open: one that restarted
# in between must not start below zero (that would admit more than its limit).
_REFUND = """
local current = tonumber(redis.call('get', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return redis.call('decrby', KEYS[1], ARGV[1]) end
return current
"""


@dataclass(frozen=True, slots=True)
class Window:
    """One window of a rate limit as it stands: how many of `limit` decisions remain, and when
    (epoch seconds) the window restarts."""

    scope: str  # "key" (the key or identity) or "organisation" (all its keys together)
    period: str  # "minute" or "day"
    limit: int
    remaining: int
    resets_at: float
    group: str | None = None  # a limit on one model group's decisions only

    @property
    def name(self) -> str:
        return f"{self.scope}-{self.period}" + (f"-{self.group}" if self.group else "")


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a count gave: how many of the decisions asked for may go ahead (the first `granted`,
    in order), each window counted as it stands after, and when some were held back, the seconds
    until they could be granted again (at least 1)."""

    granted: int
    windows: tuple[Window, ...] = ()
    retry_after: int | None = None

    @property
    def tightest(self) -> Window | None:
        """The window with the fewest decisions left (None: no limit counted)."""
        return min(self.windows, key=lambda window: window.remaining, default=None)


def rate_holders(key: str | None, org_id: int | None) -> dict[str, str]:
    """The counters a caller's decisions count against, by scope: its key or identity, and its
    organisation (shared by all the organisation's keys)."""
    holders = {} if not key else {"key": key}
    if org_id is not None:
        holders["organisation"] = f"org:{org_id}"
    return holders


class Counters:
    """Named counters in the machine's (or the nodes') shared counter store, each over a window of
    its own: what rate limits and budgets count in. Every call raises limits' StorageError when the
    store cannot answer within its bounded wait."""

    def __init__(self, storage_uri: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            # A synchronous storage: storage_from_string gives one for every synchronous scheme.
            self.storage = cast(Storage, storage_from_string(storage_uri, wrap_exceptions=True,
                                                             **_bounded_waits(storage_uri, timeout)))
        except (ConfigurationError, ValueError) as error:
            raise ConfigError(f"GOVERN_RATELIMIT_STORAGE {storage_uri!r} cannot be used: {error}") from None
        self._redis = self.storage if isinstance(self.storage, RedisStorage) else None
        self._refund_script = self._redis.storage.register_script(_REFUND) if self._redis else None

    def count(self, name: str, seconds: int, amount: int) -> tuple[int, float]:
        """Count `amount` into the window `name` (a new one of `seconds` if none is open): its
        count after, and when it restarts."""
        if isinstance(self.storage, MmapStorage):
            try:
                return self.storage.incr_window(name, seconds, amount)  # one lock, not two
            except self.storage.base_exceptions as error:  # as limits wraps its own calls
                raise StorageError(error) from error
        return self.storage.incr(name, seconds, amount), self.storage.get_expiry(name)

    def read(self, name: str) -> int:
        return self.storage.get(name)

    def refund(self, name: str, amount: int) -> None:
        """Take back `amount` from the window `name`, only while it is still open and holds as
        much: one that restarted in between must not start below zero."""
        if isinstance(self.storage, MmapStorage):
            try:
                self.storage.refund(name, amount)
            except self.storage.base_exceptions as error:
                raise StorageError(error) from error
        elif self._redis is not None and self._refund_script is not None:
            try:
                self._refund_script(keys=[self._redis.prefixed_key(name)], args=[amount])
            except self._redis.base_exceptions as error:
                raise StorageError(error) from error
        elif self.storage.get(name) >= amount:
            # One process' memory (tests, `flask run`): only its own threads count in between.
            self.storage.incr(name, PERIOD_SECONDS["minute"], -amount)

    def close(self) -> None:
        if isinstance(self.storage, MmapStorage):
            self.storage.close()


class RateLimiter:
    """Counts decisions against the limits of the caller's tier: per key or identity, and per
    organisation, so neither more keys nor other endpoints buy more decisions."""

    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    def take_each(self, limit: RateLimit | None, holders: Mapping[str, str],
                  groups: Sequence[str | None]) -> tuple[Allowance, list[bool]]:
        """Count one decision for each item of `groups` (the model group each question is about),
        in order, against `limit` and, for the items of a model group with a limit of its own,
        that one too: which items may go ahead, and the allowance of all the windows counted.
        An item held back by its group's limit uses up nothing of the tier's: a batch's later
        items of other groups still go ahead. Raises RateLimitUnavailable as take does."""
        overall = self.take(limit, holders, len(groups))
        allowed = [index < overall.granted for index in range(len(groups))]
        if limit is None or not limit.model_groups:
            return overall, allowed
        items: dict[str, list[int]] = {}
        for index, group in enumerate(groups[:overall.granted]):
            if group is not None and limit.of_group(group) is not None:
                items.setdefault(group, []).append(index)
        windows, retry_after, held = list(overall.windows), overall.retry_after, 0
        for group, indexes in items.items():
            part = self.take(limit.of_group(group), holders, len(indexes), group)
            for index in indexes[part.granted:]:
                allowed[index] = False
            held += len(indexes) - part.granted
            windows += part.windows
            if part.retry_after is not None:
                retry_after = max(retry_after or 0, part.retry_after)
        if held:
            with counters_answer():
                for *_, name in _windows(limit, holders):
                    self.counters.refund(name, held)
            windows = [w if w.group else dataclasses.replace(w, remaining=w.remaining + held)
                       for w in windows]
        return Allowance(sum(allowed), tuple(windows), retry_after), allowed

    def take(self, limit: RateLimit | None, holders: Mapping[str, str], asked: int,
             group: str | None = None) -> Allowance:
        """Count up to `asked` decisions against every window of `limit` whose scope has a holder
        in `holders` (scope -> counter name: {"key": prefix, "organisation": "org:7"}). Grants as
        many as every window has left, in order, and uses up only those: a batch that would cross
        a limit is allowed up to it, never refused whole for the rest.

        Counting never admits more than a limit: each window is counted up by `asked` first and
        what was not granted is given back after, so two callers racing at a limit's edge may get
        fewer than remain for that instant, never more. Raises RateLimitUnavailable when the
        counters cannot be reached: govern fails closed."""
        if limit is None:
            return Allowance(asked)
        counted: list[tuple[str, str, int, str, int, float]] = []
        granted = asked
        with counters_answer():
            for scope, period, amount, name in _windows(limit, holders, group):
                count, resets_at = self.counters.count(name, PERIOD_SECONDS[period], asked)
                granted = min(granted, max(0, amount - (count - asked)))
                counted.append((scope, period, amount, name, count, resets_at))
            unused = asked - granted
            if unused:
                for _scope, _period, _amount, name, _count, _resets_at in counted:
                    self.counters.refund(name, unused)
        windows = tuple(Window(scope, period, amount, max(0, amount - count + unused), resets_at, group)
                        for scope, period, amount, _name, count, resets_at in counted)
        if granted == asked:
            return Allowance(granted, windows)
        # Held back until every window that is spent restarts.
        spent = max((window.resets_at for window in windows if window.remaining == 0), default=time.time())
        return Allowance(granted, windows, max(1, math.ceil(spent - time.time())))

    def peek(self, limit: RateLimit | None, holders: Mapping[str, str]) -> tuple[Window, ...]:
        """Each window of `limit` for `holders` as it stands, counting nothing (empty when the tier
        has no limit). Raises RateLimitUnavailable when the counters cannot be reached."""
        if limit is None:
            return ()
        windows = []
        with counters_answer():
            for scope, period, amount, name in _windows(limit, holders):
                count = self.counters.read(name)
                resets_at = (self.counters.storage.get_expiry(name) if count
                             else time.time() + PERIOD_SECONDS[period])
                windows.append(Window(scope, period, amount, max(0, amount - count), resets_at))
        return tuple(windows)


def _windows(limit: RateLimit, holders: Mapping[str, str],
             group: str | None = None) -> Iterator[tuple[str, str, int, str]]:
    """(scope, period, limit, counter name) of each window of `limit` (`group`'s own limit when
    given) that `holders` has a holder for."""
    for scope, period, amount in limit.windows():
        holder = holders.get(scope)
        if holder is not None:
            yield scope, period, amount, f"govern/{scope}{'@' + group if group else ''}/{period}/{holder}"


@contextmanager
def counters_answer() -> Iterator[None]:
    """Turns a counter store that cannot answer into RateLimitUnavailable: govern fails closed."""
    try:
        yield
    except StorageError as error:
        log.error("rate-limit storage failed: %s", error)
        raise RateLimitUnavailable("the rate-limit counters cannot be reached; try again") from None


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
