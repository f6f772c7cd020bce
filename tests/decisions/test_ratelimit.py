"""Rate limits per tier: the shared counter file, the limiter, and /v1/check past a limit."""

from __future__ import annotations

import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from factories import ACTOR, add_models, make_key
from limits.errors import StorageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.decisions.counters import MmapStorage
from govern.decisions.ratelimit import Allowance, Counters, RateLimiter, RateLimitUnavailable
from govern.errors import ConfigError
from govern.models import Decision
from govern.policy.document import RateLimit
from govern.policy.store import change_policy


# -- the counter file ----------------------------------------------------------------------------
def counters(path: Path, query: str = "", timeout: float = 2.0) -> MmapStorage:
    return MmapStorage(f"mmap://{path}{query}", wrap_exceptions=True, timeout=timeout)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "ratelimits.counters"


@pytest.fixture
def storage(path: Path):  # type: ignore[no-untyped-def]
    storage = counters(path)
    yield storage
    storage.close()


def test_increments_are_counted_per_key(storage):
    assert [storage.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert storage.incr("b", 60, amount=5) == 5
    assert storage.get("a") == 3
    assert storage.get("never counted") == 0


def test_a_second_handle_on_the_file_sees_the_same_counts(storage, path):
    other = counters(path)
    try:
        storage.incr("a", 60)
        assert other.incr("a", 60) == 2
        assert storage.get("a") == 2
    finally:
        other.close()


def test_an_expired_window_starts_again(storage):
    storage.incr("a", 1, amount=7)
    time.sleep(1.05)
    assert storage.get("a") == 0
    assert storage.incr("a", 60) == 1


def test_the_slot_of_an_expired_window_is_used_again(path):
    storage = counters(path, "?slots=1")
    try:
        storage.incr("a", 1)
        with pytest.raises(StorageError, match="full"):
            storage.incr("b", 60)
        time.sleep(1.05)
        assert storage.incr("b", 60) == 1
        assert storage.get("a") == 0
    finally:
        storage.close()


def test_expiry_is_the_end_of_the_window(storage):
    before = time.time()
    storage.incr("a", 60)
    assert before + 59 < storage.get_expiry("a") <= time.time() + 60
    now = time.time()
    assert now <= storage.get_expiry("never counted") <= time.time()


def test_clear_and_reset_forget_counts(storage):
    storage.incr("a", 60)
    storage.incr("b", 60)
    storage.clear("a")
    assert storage.get("a") == 0
    assert storage.get("b") == 1
    assert storage.incr("a", 60) == 1
    storage.reset()
    assert (storage.get("a"), storage.get("b")) == (0, 0)
    assert storage.incr("b", 60) == 1
    assert storage.check() is True


def test_the_file_is_sparse_and_private(storage, path):
    for key in range(100):
        storage.incr(f"key {key}", 60)
    assert path.stat().st_size == 32 + 2**20 * 32  # the header and 2**20 slots of 32 bytes
    assert path.stat().st_blocks * 512 <= 101 * 4096  # at most a page per key, and the header's
    assert path.stat().st_mode & 0o777 == 0o600


def test_relative_paths_are_refused():
    with pytest.raises(ConfigError, match="absolute path"):
        Counters("mmap://ratelimits.counters")


@pytest.mark.parametrize("query", ["?slots=0", "?slots=many", "?size=4"])
def test_a_bad_query_is_refused(tmp_path, query):
    with pytest.raises(ConfigError, match="GOVERN_RATELIMIT_STORAGE"):
        Counters(f"mmap://{tmp_path / 'ratelimits.counters'}{query}")


def test_a_full_table_answers_a_storage_error_and_the_limiter_503(path):
    storage = counters(path, "?slots=2")
    try:
        assert (storage.incr("a", 60), storage.incr("b", 60)) == (1, 1)
        with pytest.raises(StorageError, match=r"full.*\?slots="):
            storage.incr("c", 60)
        assert storage.incr("a", 60) == 2  # the keys already counted still are
    finally:
        storage.close()
    limiter = RateLimiter(Counters(f"mmap://{path}?slots=2"))
    try:
        with pytest.raises(RateLimitUnavailable):
            limiter.take(RateLimit(per_minute=5), {"key": "gvk_aaaaaaaaaaaa"}, 1)
    finally:
        limiter.counters.close()


@pytest.mark.parametrize("content", [b"", b"not a table of counters", b"\0" * (32 + 64 * 32)])
def test_a_file_that_is_not_a_table_is_replaced_by_an_empty_one(path, content, caplog):
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="govern.decisions.counters"):
        storage = counters(path, "?slots=64")
    try:
        assert storage.incr("a", 60) == 1
        assert path.stat().st_size == 32 + 64 * 32
    finally:
        storage.close()
    warned = [r.getMessage() for r in caplog.records if "replaced by an empty one" in r.getMessage()]
    assert len(warned) == (1 if content else 0)


def test_a_table_of_another_size_is_replaced(path, caplog):
    small = counters(path, "?slots=64")
    small.incr("a", 60)
    small.close()
    with caplog.at_level(logging.WARNING, logger="govern.decisions.counters"):
        storage = counters(path, "?slots=128")
    try:
        assert storage.incr("a", 60) == 1
    finally:
        storage.close()
    assert "replaced by an empty one" in caplog.text


def test_a_file_locked_by_another_process_answers_within_the_timeout(path):
    storage = counters(path, timeout=0.5)
    holder = os.open(path, os.O_RDWR)  # an open file of its own: flock excludes it as it would a process
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        began = time.monotonic()
        with pytest.raises(StorageError, match="locked by another process"):
            storage.incr("a", 60)
        took = time.monotonic() - began
        assert storage.check() is False
    finally:
        os.close(holder)
    try:
        assert 0.25 <= took < 0.5 + 0.25, took
        assert storage.incr("a", 60) == 1  # answers again once the lock is let go
    finally:
        storage.close()


HOLD_AND_WAIT = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_process_killed_while_holding_the_lock_lets_it_go(storage, path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_AND_WAIT, str(path)], stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        assert storage.check() is False
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        if holder.stdout is not None:
            holder.stdout.close()
    assert storage.incr("a", 60) == 1


PROCESSES = 3
COUNTS_EACH = 500


def count_in_another_process(path: str, start: Barrier, answers: Queue) -> None:  # type: ignore[type-arg]
    storage = counters(Path(path))
    start.wait(60)  # all at once, not each in turn as they finish starting
    answers.put([storage.incr("shared", 60) for _ in range(COUNTS_EACH)])
    storage.close()


def test_processes_counting_one_key_add_up_exactly(path):
    counters(path).close()  # made once, so that the processes start on the same file
    spawn = multiprocessing.get_context("spawn")
    start, answers = spawn.Barrier(PROCESSES), spawn.Queue()
    processes = [spawn.Process(target=count_in_another_process, args=(str(path), start, answers))
                 for _ in range(PROCESSES)]
    for process in processes:
        process.start()
    counted = [n for _ in processes for n in answers.get(timeout=120)]
    for process in processes:
        process.join(10)

    assert sorted(counted) == list(range(1, PROCESSES * COUNTS_EACH + 1))


# -- the limiter ---------------------------------------------------------------------------------
@pytest.fixture
def limiter(tmp_path: Path):  # type: ignore[no-untyped-def]
    limiter = RateLimiter(Counters(f"mmap://{tmp_path / 'ratelimits.counters'}"))
    yield limiter
    limiter.counters.close()


KEY_A, KEY_B = {"key": "gvk_aaaaaaaaaaaa"}, {"key": "gvk_bbbbbbbbbbbb"}


def test_per_minute_admits_exactly_the_limit_then_says_when_to_retry(limiter):
    answers = [limiter.take(RateLimit(per_minute=3), KEY_A, 1) for _ in range(5)]
    assert [a.granted for a in answers] == [1, 1, 1, 0, 0]
    assert [a.retry_after for a in answers[:3]] == [None] * 3
    assert all(a.retry_after is not None and 1 <= a.retry_after <= 60 for a in answers[3:]), answers
    assert [a.tightest.remaining for a in answers] == [2, 1, 0, 0, 0]


def test_keys_are_counted_apart(limiter):
    limit = RateLimit(per_minute=1)
    assert limiter.take(limit, KEY_A, 1).granted == 1
    assert limiter.take(limit, KEY_B, 1).granted == 1
    assert limiter.take(limit, KEY_A, 1).granted == 0


def test_keys_of_one_organisation_share_its_limit(limiter):
    # The organisation's limit is 5 a minute, each key's 4: two keys get 5 in all, not 8.
    limit = RateLimit(per_minute=4, organisation_per_minute=5)
    org = {"organisation": "org:1"}
    granted = [limiter.take(limit, {**key, **org}, 1).granted for key in (KEY_A, KEY_B) * 4]
    assert granted == [1, 1, 1, 1, 1, 0, 0, 0]
    # Another organisation's keys are counted apart.
    assert limiter.take(limit, {"key": "gvk_cccccccccccc", "organisation": "org:2"}, 1).granted == 1


def test_per_day_limit_waits_for_the_day(limiter):
    limit = RateLimit(per_minute=100, per_day=2)
    assert [limiter.take(limit, KEY_A, 1).granted for _ in range(2)] == [1, 1]
    retry = limiter.take(limit, KEY_A, 1).retry_after
    assert retry is not None and 60 < retry <= 86_400


def test_a_batch_crossing_the_limit_gets_what_is_left_and_uses_only_that(limiter):
    limit = RateLimit(per_minute=37)
    batches = [limiter.take(limit, KEY_A, 10) for _ in range(5)]
    # 10 + 10 + 10 + 7, then nothing: 37 in all, where refusing a batch whole would give 30.
    assert [b.granted for b in batches] == [10, 10, 10, 7, 0]
    assert limiter.peek(limit, KEY_A)[0].remaining == 0
    # A refused batch used nothing: the count is the limit, not the limit plus what was refused.
    assert limiter.counters.read("govern/key/minute/gvk_aaaaaaaaaaaa") == 37


def test_the_tightest_window_decides_a_batch(limiter):
    limit = RateLimit(per_minute=50, per_day=12, organisation_per_minute=8)
    first = limiter.take(limit, {**KEY_A, "organisation": "org:1"}, 10)
    assert first.granted == 8
    assert (first.tightest.name, first.tightest.remaining) == ("organisation-minute", 0)
    # The key's own windows counted only the 8 granted.
    assert {w.name: w.remaining for w in first.windows} == {
        "key-minute": 42, "organisation-minute": 0, "key-day": 4}


def test_a_model_groups_limit_holds_back_only_its_items_and_they_use_up_nothing(limiter):
    # The tier allows 10 a minute, 2 of them about frontier models: a batch is answered item by
    # item, and a frontier item past its 2 leaves room for the other groups.
    limit = RateLimit(per_minute=10, model_groups=(("frontier", RateLimit(per_minute=2)),))
    allowance, allowed = limiter.take_each(limit, KEY_A, ["frontier", "open", "frontier", "frontier", "open"])
    assert allowed == [True, True, True, False, True]
    assert allowance.granted == 4
    assert {w.name: w.remaining for w in allowance.windows} == {"key-minute": 6, "key-minute-frontier": 0}
    assert limiter.counters.read("govern/key/minute/gvk_aaaaaaaaaaaa") == 4
    assert limiter.counters.read("govern/key@frontier/minute/gvk_aaaaaaaaaaaa") == 2
    assert allowance.retry_after is not None and 1 <= allowance.retry_after <= 60
    # Another key is counted apart; the organisation's own group window is shared by its keys.
    shared = RateLimit(model_groups=(("frontier", RateLimit(organisation_per_minute=3)),))
    org = {"organisation": "org:1"}
    granted = [limiter.take_each(shared, {**key, **org}, ["frontier"])[1][0] for key in (KEY_A, KEY_B) * 2]
    assert granted == [True, True, True, False]


def test_no_limit_counts_nothing(limiter):
    assert all(limiter.take(None, KEY_A, 1) == Allowance(1) for _ in range(100))


def test_a_refund_never_starts_a_new_window_below_zero(storage):
    assert storage.incr_window("k", 1, 5)[0] == 5
    time.sleep(1.05)  # the window ends between the count and the refund
    storage.refund("k", 5)
    assert storage.incr_window("k", 60, 1)[0] == 1  # a fresh window, counted from zero


def test_unreachable_redis_fails_closed():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    limiter = RateLimiter(Counters(f"redis://127.0.0.1:{port}?socket_connect_timeout=0.5"))
    with pytest.raises(RateLimitUnavailable) as error:
        limiter.take(RateLimit(per_minute=5), {"key": "gvk_aaaaaaaaaaaa"}, 1)
    assert (error.value.status, error.value.code) == (503, "rate_limit_unavailable")


def test_unknown_storage_scheme_is_a_config_error():
    with pytest.raises(ConfigError, match="GOVERN_RATELIMIT_STORAGE"):
        Counters("carrier-pigeon://loft")


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


def test_a_batch_is_answered_in_order_up_to_the_limit(client, session, free_key):
    headers = {"Authorization": f"Bearer {free_key}"}
    response = client.post("/v1/check/batch", json={"checks": [OPEN_GENERATE] * 3}, headers=headers)

    assert [r["reason"] for r in response.json["results"]] == ["granted_by_tier", "granted_by_tier",
                                                               "rate_limited"]
    assert response.json["rate_limit"]["remaining"] == 0
    # The refused third used nothing, and the next call is refused as well.
    after = client.post("/v1/check", json=OPEN_GENERATE, headers=headers).json
    assert after["reason"] == "rate_limited"


def test_check_answers_carry_the_remaining_quota(client, free_key):
    headers = {"Authorization": f"Bearer {free_key}"}
    first = client.post("/v1/check", json=OPEN_GENERATE, headers=headers).json
    assert first["rate_limit"]["window"] == "key-minute"
    assert (first["rate_limit"]["limit"], first["rate_limit"]["remaining"]) == (2, 1)
    assert 1 <= first["rate_limit"]["resets_in"] <= 60


def test_a_second_key_of_the_organisation_buys_no_more_decisions(client, session):
    add_models(session)
    set_limits(session, {"free": {"per_minute": 10, "organisation": {"per_minute": 3}}})
    first = make_key(session, "sharedco", tier="free")
    second = make_key(session, "sharedco")
    answers = [client.post("/v1/check", json=OPEN_GENERATE,
                           headers={"Authorization": f"Bearer {key}"}).json for key in (first, second) * 3]
    assert [a["allow"] for a in answers] == [True, True, True, False, False, False]
    assert answers[3]["rate_limit"]["window"] == "organisation-minute"


def test_a_mixed_batch_is_limited_per_model_group_on_every_endpoint(client, session):
    add_models(session)
    set_limits(session, {"verified": {"per_minute": 20, "model_groups": {"frontier": {"per_minute": 2}}}})
    key = make_key(session, "mixedco", tier="verified")
    headers = {"Authorization": f"Bearer {key}"}
    frontier = {"model": "frontier-1", "capability": "generate"}
    response = client.post("/v1/check/batch", headers=headers,
                           json={"checks": [frontier, OPEN_GENERATE, frontier, frontier, OPEN_GENERATE]})
    assert [r["reason"] == "rate_limited" for r in response.json["results"]] == [
        False, False, False, True, False]
    # Spent on frontier, through /v1/check and /v1/authorize as well; open-7b still answered.
    assert client.post("/v1/check", json=frontier, headers=headers).json["reason"] == "rate_limited"
    authorized = client.get("/v1/authorize", headers={
        **headers, "X-Forwarded-Method": "POST", "X-Forwarded-Host": "api.example",
        "X-Forwarded-Uri": "/openai/deployments/frontier-1/completions"})
    assert authorized.status_code == 429, authorized.json
    assert '"key-minute-frontier";q=2;w=60' in authorized.headers["RateLimit-Policy"]
    assert client.post("/v1/check", json=OPEN_GENERATE, headers=headers).json["reason"] != "rate_limited"


def test_other_tiers_without_a_limit_are_not_counted(client, session, free_key):
    verified = make_key(session, "verco", tier="verified")
    headers = {"Authorization": f"Bearer {verified}"}
    answers = [client.post("/v1/check", json=OPEN_GENERATE, headers=headers).json for _ in range(5)]
    assert [a["allow"] for a in answers] == [True] * 5
