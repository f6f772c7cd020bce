"""The per-process decision runtime: the policy snapshot in force, the key cache, the decision log
writer, and a watcher thread that keeps them in step with the database.

The watcher polls the change counters; when the policy or governance counter moves, or a sign-off
in the snapshot expires, it builds the new snapshot off the request path and swaps the reference,
and when the principals counter moves it empties the key cache. Every worker of every node therefore
follows a change within one refresh interval.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from govern.decisions.log import DecisionLog
from govern.governance.access import governance_access
from govern.identity.directory import AuthFailure, KeyDirectory, KeyEntry
from govern.models import ChangeCounter
from govern.models.api_key import CLIENT
from govern.models.base import utcnow
from govern.models.change_counter import GOVERNANCE, POLICY, PRINCIPALS
from govern.policy.snapshot import PolicySnapshot
from govern.policy.store import current_snapshot
from govern.types import Caller, DecisionRecord, Reason, Verdict

log = logging.getLogger(__name__)

LAST_USED_FLUSH_SECONDS = 10.0


def new_decision_id(now_us: int) -> str:
    """26 characters, time-ordered (microseconds, then 48 random bits), so ids sort by time and
    serve as the pagination cursor. Cheaper than a ULID library on the hot path."""
    return f"{now_us:014x}{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Question:
    model: str
    capability: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """One answered check, already recorded in the decision log."""

    decision_id: str
    allow: bool
    reason: Reason
    rule: str | None
    tier: str | None
    policy_version: int | None
    org_name: str | None
    key_prefix: str | None
    authenticated: bool

    def as_dict(self) -> dict[str, object]:
        return {"allow": self.allow, "decision_id": self.decision_id, "tier": self.tier,
                "reason": self.reason.value, "rule": self.rule, "policy_version": self.policy_version}


class Runtime:
    def __init__(self, engine: Engine, *, refresh_interval: float, log_queue_size: int,
                 log_timeout: float) -> None:
        self._engine = engine
        self._refresh_interval = refresh_interval
        self.keys = KeyDirectory(engine)
        self.log = DecisionLog(engine, queue_size=log_queue_size, timeout=log_timeout)
        self._snapshot: PolicySnapshot | None = None
        self._counters: dict[str, int] = {}
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="govern-watcher", daemon=True)
        self._start_lock = threading.Lock()
        self._started = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> None:
        with self._start_lock:
            if self._started:
                return
            self.refresh()
            self.log.start()
            self._watcher.start()
            self._started = True

    def stop(self) -> None:
        """Stop watching, then commit whatever is queued and the last-used times."""
        self._stop.set()
        if self._started:
            self._watcher.join(5)
        self.log.close()
        self._flush_last_used()

    # -- state -------------------------------------------------------------------------------
    @property
    def snapshot(self) -> PolicySnapshot | None:
        return self._snapshot

    def refresh(self) -> None:
        """Read the counters; rebuild the snapshot or forget cached keys if they moved."""
        with self._engine.connect() as conn:
            counters = dict(conn.execute(select(ChangeCounter.name, ChangeCounter.value)).all())
        if (self._snapshot is None or time.time() >= self._snapshot.valid_until
                or any(counters.get(name) != self._counters.get(name) for name in (POLICY, GOVERNANCE))):
            with Session(self._engine) as session:
                governed, next_expiry = governance_access(session, utcnow())
                snapshot = current_snapshot(session, governed,
                                            next_expiry.timestamp() if next_expiry else math.inf)
            snapshot.warm()
            self._snapshot = snapshot
        if counters.get(PRINCIPALS) != self._counters.get(PRINCIPALS):
            self.keys.forget_all()
        self._counters = counters

    def database_reachable(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    def _flush_last_used(self) -> None:
        try:
            self.keys.flush_last_used()
        except Exception:
            log.exception("could not store last-used times of keys")

    def _watch(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(self._refresh_interval):
            try:
                self.refresh()
            except Exception:
                # Keep answering with the snapshot in force; the next poll tries again.
                log.exception("policy refresh failed")
            if time.monotonic() - last_flush >= LAST_USED_FLUSH_SECONDS:
                self._flush_last_used()
                last_flush = time.monotonic()

    # -- the decision ------------------------------------------------------------------------
    def check(self, raw_key: str | None, questions: list[Question], *, request_id: str | None,
              started: float) -> list[Outcome]:
        """Authenticate, decide each question, record every decision, then return the answers.

        An authentication failure gives one unauthenticated outcome (logged) for the whole call.
        Raises DecisionLogUnavailable when the records cannot be committed: no answer without them.
        """
        now = time.time()
        snapshot = self._snapshot
        try:
            entry = self.keys.authenticate(raw_key, now)
            if entry.kind != CLIENT:
                raise AuthFailure(Reason.KEY_WRONG_KIND, entry.prefix)
        except AuthFailure as failure:
            outcomes = [Outcome(new_decision_id(int(now * 1e6)), False, failure.reason, None, None,
                                snapshot.version if snapshot else None, None, failure.prefix, False)]
            # The row keeps what was asked (the first question of a batch), for whoever investigates.
            self._record(outcomes, questions[:1] or [None], None, request_id, started, now)
            return outcomes
        verdicts = [self._decide(snapshot, entry, q) for q in questions]
        outcomes = [
            Outcome(new_decision_id(int(now * 1e6)), v.allow, v.reason, v.rule, v.tier,
                    v.policy_version, entry.org_name, entry.prefix, True)
            for v in verdicts
        ]
        self._record(outcomes, questions, entry, request_id, started, now)
        return outcomes

    @staticmethod
    def _decide(snapshot: PolicySnapshot | None, entry: KeyEntry, question: Question) -> Verdict:
        if snapshot is None or entry.org_tier is None or entry.org_id is None:
            return Verdict(False, Reason.UNKNOWN_TIER, None, entry.org_tier, 0)
        caller = Caller(
            org_id=entry.org_id, org_name=entry.org_name or "", key_id=entry.key_id,
            key_prefix=entry.prefix, tier=snapshot.effective_tier(entry.org_tier, entry.tier_cap),
            org_suspended=entry.org_suspended, key_suspended=entry.suspended,
        )
        return snapshot.decide(caller, question.model, question.capability)

    def _record(self, outcomes: list[Outcome], questions: list[Question] | list[None] | list[Question | None],
                entry: KeyEntry | None, request_id: str | None, started: float, now: float) -> None:
        latency_us = int((time.perf_counter() - started) * 1e6)
        created_us = int(now * 1e6)
        self.log.record([
            DecisionRecord(
                decision_id=o.decision_id, created_at_us=created_us, request_id=request_id,
                org_id=entry.org_id if entry else None, key_prefix=o.key_prefix, tier=o.tier,
                model=q.model if q else None, capability=q.capability if q else None,
                allow=o.allow, reason=o.reason.value, policy_version=o.policy_version,
                latency_us=latency_us,
            )
            for o, q in zip(outcomes, questions, strict=True)
        ])
