"""Rate limits per tier: the shared SQLite counters, the limiter, and /v1/check past a limit."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from factories import ACTOR, add_models, make_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.decisions.counters import SQLiteStorage
from govern.decisions.ratelimit import RateLimiter, RateLimitUnavailable
from govern.errors import ConfigError
from govern.models import Decision
from govern.policy.document import RateLimit
from govern.policy.store import change_policy


# -- the SQLite storage --------------------------------------------------------------------------
@pytest.fixture
def storage(tmp_path: Path):  # type: ignore[no-untyped-def]
    storage = SQLiteStorage(f"sqlite://{tmp_path / 'counters.db'}")
    yield storage
    storage.close()


def test_increments_are_counted_per_key(storage):
    assert [storage.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.incr("b", 60, amount=5) == 5
    assert storage.get("a") == 3


def test_a_second_connection_sees_the_same_counts(storage, tmp_path):
    other = SQLiteStorage(f"sqlite://{tmp_path / 'counters.db'}")
    try:
        storage.incr("a", 60)
        assert other.incr("a", 60) == 2
    finally:
        other.close()


def test_an_expired_window_starts_again(storage):
    storage.incr("a", 1, amount=7)
    time.sleep(1.05)
    assert storage.get("a") == 0
    assert storage.incr("a", 60) == 1


def test_expiry_is_the_end_of_the_window(storage):
    before = time.time()
    storage.incr("a", 60)
    assert before + 59 < storage.get_expiry("a") <= time.time() + 60


def test_clear_and_reset_forget_counts(storage):
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.reset() == 1
    assert storage.get("b") == 0
    assert storage.check() is True


def test_relative_paths_are_refused():
    with pytest.raises(ConfigError, match="absolute path"):
        RateLimiter("sqlite://counters.db")


# -- the limiter ---------------------------------------------------------------------------------
@pytest.fixture
def limiter(tmp_path: Path):  # type: ignore[no-untyped-def]
    limiter = RateLimiter(f"sqlite://{tmp_path / 'counters.db'}")
    yield limiter
    limiter.close()


def test_per_minute_admits_exactly_the_limit_then_says_when_to_retry(limiter):
    answers = [limiter.hit(RateLimit(per_minute=3), "gvk_aaaaaaaaaaaa") for _ in range(5)]
    assert answers[:3] == [None, None, None]
    assert all(isinstance(a, int) and 1 <= a <= 60 for a in answers[3:]), answers


def test_keys_are_counted_apart(limiter):
    limit = RateLimit(per_minute=1)
    assert limiter.hit(limit, "gvk_aaaaaaaaaaaa") is None
    assert limiter.hit(limit, "gvk_bbbbbbbbbbbb") is None
    assert limiter.hit(limit, "gvk_aaaaaaaaaaaa") is not None


def test_per_day_limit_waits_for_the_day(limiter):
    limit = RateLimit(per_minute=100, per_day=2)
    assert [limiter.hit(limit, "gvk_aaaaaaaaaaaa") for _ in range(2)] == [None, None]
    retry = limiter.hit(limit, "gvk_aaaaaaaaaaaa")
    assert retry is not None and 60 < retry <= 86_400


def test_cost_counts_several_decisions_at_once(limiter):
    limit = RateLimit(per_minute=5)
    assert limiter.hit(limit, "gvk_aaaaaaaaaaaa", cost=5) is None
    assert limiter.hit(limit, "gvk_aaaaaaaaaaaa", cost=1) is not None


def test_no_limit_counts_nothing(limiter):
    assert all(limiter.hit(None, "gvk_aaaaaaaaaaaa") is None for _ in range(100))


def test_unreachable_redis_fails_closed():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limiter = RateLimiter(f"redis://127.0.0.1:{port}?socket_connect_timeout=0.5")
    with pytest.raises(RateLimitUnavailable) as error:
        limiter.hit(RateLimit(per_minute=5), "gvk_aaaaaaaaaaaa")
    assert (error.value.status, error.value.code) == (503, "rate_limit_unavailable")


def test_unknown_storage_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="GOVERN_RATELIMIT_STORAGE"):
        RateLimiter("carrier-pigeon://loft")


# -- /v1/check past the limit --------------------------------------------------------------------
def set_limits(session: Session, limits: dict[str, dict[str, int]]) -> None:
    change_policy(session, lambda raw: raw.update(rate_limits=limits), actor=ACTOR, comment="limits")


@pytest.fixture
def free_key(session: Session) -> str:
    add_models(session)
    set_limits(session, {"free": {"per_minute": 2}})
    return make_key(session, "freeco", tier="free")


OPEN_GENERATE = {"model": "open-7b", "capability": "generate"}


def test_check_past_the_limit_is_a_logged_rate_limited_deny(client, session, free_key):
    headers = {"Authorization": f"Bearer {free_key}"}
    answers = [client.post("/v1/check", json=OPEN_GENERATE, headers=headers) for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json["allow"] for a in answers] == [True, True, False]
    last = answers[2].json
    assert last["reason"] == "rate_limited"
    assert last["tier"] == "free"
    assert 1 <= last["retry_after"] <= 60
    row = session.execute(select(Decision).where(Decision.decision_id == last["decision_id"])).scalar_one()
    assert (row.allow, row.reason, row.model) == (False, "rate_limited", "open-7b")


def test_batch_counts_every_check(client, free_key):
    headers = {"Authorization": f"Bearer {free_key}"}
    response = client.post("/v1/check/batch", json={"checks": [OPEN_GENERATE] * 3}, headers=headers)

    assert [r["reason"] for r in response.json["results"]] == ["rate_limited"] * 3


def test_other_tiers_without_a_limit_are_not_counted(client, session, free_key):
    verified = make_key(session, "verco", tier="verified")
    headers = {"Authorization": f"Bearer {verified}"}
    answers = [client.post("/v1/check", json=OPEN_GENERATE, headers=headers).json for _ in range(5)]
    assert [a["allow"] for a in answers] == [True] * 5
