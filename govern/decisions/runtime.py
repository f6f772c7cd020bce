"""The per-process decision runtime: the policy snapshot in force, the key cache, the decision log
writer, and a watcher thread that keeps them in step with the database.

The watcher polls the change counters; when the policy or governance counter moves, or a sign-off
in the snapshot expires, it builds the new snapshot off the request path and swaps the reference,
and when the principals counter moves it empties the key cache. Every worker of every node therefore
follows a change within one refresh interval. A policy version that cannot be built stops none of
this: the last good policy stays in force with the governance of now, and the failure is reported
(`snapshot_failure`, shown by /readyz and /v1/status).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

from govern.audit.checkpoints import Checkpointer
from govern.decisions import metrics
from govern.decisions.budgets import BudgetMeter, Spent, record_crossings
from govern.decisions.log import DecisionLog
from govern.decisions.log_store import commit_groups
from govern.decisions.log_writer import WriterClient, WriterProcess
from govern.decisions.ratelimit import Allowance, Counters, RateLimiter, counters_answer, rate_holders
from govern.decisions.refusals import RefusalBudget
from govern.decisions.usage import Recorded
from govern.governance.access import governance_access
from govern.governance.grants import Grants, holder_of, load_grants
from govern.identity.bearer_tokens import TokenVerifier
from govern.identity.credentials import CredentialResolver, Principal
from govern.identity.directory import AuthFailure, KeyDirectory
from govern.identity.issuers import load_issuers
from govern.identity.subjects import Subject, SubjectDirectory, SubjectRefused
from govern.models import ChangeCounter, Decision
from govern.models.api_key import PEP
from govern.models.base import utcnow
from govern.models.change_counter import GOVERNANCE, ISSUERS, POLICY, PRINCIPALS
from govern.policy.builds import BuildFailure, NoPolicyBuilds, build_in_force, describe
from govern.policy.snapshot import PolicySnapshot
from govern.types import REASON_TEXT, Caller, DecisionRecord, Reason, Verdict

log = logging.getLogger(__name__)

LAST_USED_FLUSH_SECONDS = 10.0
# Where a caller asks for the access a deny withholds (govern.api.access_requests).
ACCESS_REQUESTS_PATH = "/v1/access-requests"
# Denies a higher tier would turn into an allow (a grant to a tier above the caller's, or a
# sign-off opening the model to a tier above it): their answers carry a handle to ask for it. A
# model with no sign-off in force (not_signed_off) needs its approvers, not an access request.
REQUESTABLE = frozenset({Reason.TIER_TOO_LOW, Reason.DENIED_BY_RULE, Reason.SIGNOFF_BELOW_TIER})
BUILD_RETRY_SECONDS = 10.0


def new_decision_id(now_us: int) -> str:
    """26 characters, time-ordered (microseconds, then 48 random bits), so ids sort by time and
    serve as the pagination cursor. Cheaper than a ULID library on the hot path."""
    return f"{now_us:014x}{secrets.token_hex(6)}"


@dataclass(frozen=True, slots=True)
class Question:
    model: str
    capability: str
    max_tokens: int = 0  # what the call expects to use at most, reserved against token budgets


@dataclass(frozen=True, slots=True)
class SubjectQuestion:
    """A question an enforcement point asks about someone else (AuthZEN)."""

    subject: Subject
    resource_type: str
    model: str
    capability: str


MODEL_RESOURCE = "model"


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
    retry_after: int | None = None  # seconds, when the reason is rate_limited
    issuer: str | None = None
    subject: str | None = None
    sign_off_id: int | None = None  # recorded in the log; not part of the answer
    detail: str | None = None  # why, for the caller, when more precise than the reason's text
    quota: Allowance | None = None  # the rate limits the call was counted against, as they stand
    spent: Spent | None = None  # the budget that refused it (budget_exhausted)
    would_allow: str | None = None  # a deny's: the lowest tier that would allow it, to ask for

    def access_request(self, base_url: str) -> dict[str, object] | None:
        """Where and how to ask for the access this deny withholds (None: nothing to ask for)."""
        if self.would_allow is None:
            return None
        return {"url": f"{base_url}{ACCESS_REQUESTS_PATH}", "decision_id": self.decision_id,
                "would_allow": {"tier": self.would_allow}}

    @property
    def message(self) -> str:
        return self.detail or REASON_TEXT[self.reason]

    def as_dict(self, base_url: str = "") -> dict[str, object]:
        """The answer's JSON; `base_url`: the public URL an access-request handle points under."""
        out: dict[str, object] = {
            "allow": self.allow, "decision_id": self.decision_id, "tier": self.tier,
            "reason": self.reason.value, "rule": self.rule, "policy_version": self.policy_version}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        if self.spent is not None:
            out["budget"] = {"name": self.spent.budget.name,
                             "resets_at": datetime.fromtimestamp(self.spent.resets_at, UTC).isoformat()}
        handle = self.access_request(base_url)
        if handle is not None:
            out["access_request"] = handle
        return out


class Runtime:
    def __init__(self, engine: Engine, *, refresh_interval: float, log_queue_size: int,
                 log_timeout: float, ratelimit_storage: str = "memory://",
                 log_in_process: bool = False, log_socket: str | None = None,
                 checkpoints: Checkpointer | None = None,
                 unauthenticated_rows_per_minute: int = 60) -> None:
        self._engine = engine
        self._checkpoints = checkpoints
        self._refresh_interval = refresh_interval
        self.keys = KeyDirectory(engine)
        self.subjects = SubjectDirectory(engine, self.keys)
        self.tokens = TokenVerifier()
        self.credentials = CredentialResolver(self.keys, self.tokens)
        # The machine's writer process (`govern serve` runs one at `log_socket`), else one of this
        # process's own; it gets the commit's whole time budget, a request waits at most twice that.
        self._own_writer: WriterProcess | None = None
        self._log_client: WriterClient | None = None
        if log_in_process:
            if log_socket is None:
                self._own_writer = WriterProcess(engine.url.render_as_string(hide_password=False))
                log_socket = self._own_writer.socket_path
            self._log_client = WriterClient(log_socket, reply_timeout=log_timeout)
        self.log = DecisionLog(self._log_client or partial(commit_groups, engine),
                               queue_size=log_queue_size, timeout=log_timeout)
        self._rate_counters = Counters(ratelimit_storage, timeout=log_timeout)
        self.rate_limiter = RateLimiter(self._rate_counters)
        self.budgets = BudgetMeter(self._rate_counters)
        self.refusals = RefusalBudget(unauthenticated_rows_per_minute, new_decision_id)
        self._snapshot: PolicySnapshot | None = None
        self._snapshot_failure: BuildFailure | None = None
        self._grants: Grants | None = None  # None: no grant in force when last loaded
        self._retry_build_at = math.inf
        self._refresh_lock = threading.Lock()
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
            metrics.forget_gone_processes()  # a worker this one replaces, say
            self.refresh()
            if self._own_writer is not None:
                self._own_writer.start()
            self.log.start()
            self._watcher.start()
            if self._checkpoints is not None:
                self._checkpoints.start()  # anchors the audit trail outside the database
            self._started = True

    def stop(self) -> None:
        """Stop watching, then commit whatever is queued and the last-used times."""
        self._stop.set()
        if self._started:
            self._watcher.join(5)
            if self._checkpoints is not None:
                self._checkpoints.stop()
            self._flush_refusals(everything=True)
        self.log.close()
        if self._log_client is not None:
            self._log_client.close()
        if self._own_writer is not None:
            self._own_writer.close()
        self._flush_last_used()
        self._rate_counters.close()

    # -- state -------------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        """The database this runtime reads, for the plane's few writes besides decisions (usage)."""
        return self._engine

    @property
    def snapshot(self) -> PolicySnapshot | None:
        return self._snapshot

    @property
    def snapshot_failure(self) -> BuildFailure | None:
        """Why the snapshot in force is not the newest policy version, or None when it is."""
        return self._snapshot_failure

    def refresh(self) -> None:
        """Read the counters; rebuild the snapshot or forget cached keys if they moved.

        A snapshot that cannot be built never stops the rest: key, organisation and issuer
        changes still apply, and the last good policy stays in force (see govern.policy.builds)."""
        with self._refresh_lock:  # the watcher and start() (or a test) must not build at once
            self._refresh()

    def _refresh(self) -> None:
        with self._engine.connect() as conn:
            counters = dict(conn.execute(select(ChangeCounter.name, ChangeCounter.value)).all())
        snapshot = self._snapshot
        if (not self._counters or (snapshot is not None and time.time() >= snapshot.valid_until)
                or time.monotonic() >= self._retry_build_at
                or any(counters.get(name) != self._counters.get(name) for name in (POLICY, GOVERNANCE))):
            self._rebuild()
        if counters.get(PRINCIPALS) != self._counters.get(PRINCIPALS) or not self._counters:
            self.keys.forget_all()
            self.subjects.forget_all()
            # Each grant ends at its expiry whenever it was loaded: only new grants need a reload.
            with Session(self._engine) as session:
                self._grants = load_grants(session, utcnow()) or None
        if counters.get(ISSUERS) != self._counters.get(ISSUERS) or not self._counters:
            self.tokens.configure(load_issuers(self._engine))
        self._counters = counters

    def _rebuild(self) -> None:
        snapshot: PolicySnapshot | None
        failure: BuildFailure | None
        try:
            with Session(self._engine) as session:
                governed, next_expiry = governance_access(session, utcnow())
                built = build_in_force(session, governed,
                                       next_expiry.timestamp() if next_expiry else math.inf,
                                       self._snapshot)
            snapshot, failure = built.snapshot, built.failure
        except Exception as error:
            # Nothing could be built (governance unreadable, no version builds): keep what is in force.
            snapshot = self._snapshot
            failure = (error.failure if isinstance(error, NoPolicyBuilds)
                       else BuildFailure(None, describe(error)))
        if failure is not None and failure != self._snapshot_failure:
            log.error("policy snapshot not rebuilt; answering with policy version %s: %s",
                      snapshot.version if snapshot else None, failure.reason)
        # A failed build is tried again now and then: a row put right in the database bumps no counter.
        self._retry_build_at = math.inf if failure is None else time.monotonic() + BUILD_RETRY_SECONDS
        self._snapshot, self._snapshot_failure = snapshot, failure
        if snapshot is not None:
            metrics.POLICY_VERSION.set(snapshot.version)
        metrics.POLICY_BUILD_FAILED.set(0 if failure is None else (failure.version or -1))

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

    def _flush_refusals(self, *, everything: bool = False) -> None:
        """Commit the aggregate rows of refused unauthenticated attempts that are due."""
        records = self.refusals.due(everything=everything)
        if not records:
            return
        try:
            self.log.record(records, answered=True)  # their attempts were answered at once
        except Exception:
            missing = self._not_stored(records)
            log.warning("aggregate rows of %d refused attempts wait for the next flush",
                        sum(r.attempts for r in missing))
            self.refusals.put_back(missing)

    def _not_stored(self, records: list[DecisionRecord]) -> list[DecisionRecord]:
        """Those of `records` not in the log: a commit that timed out may have landed all the same,
        and its rows, sent again, would be refused as duplicates at every flush."""
        try:
            with self._engine.connect() as conn:
                stored = set(conn.execute(select(Decision.decision_id).where(
                    Decision.decision_id.in_([r.decision_id for r in records]))).scalars())
        except Exception:
            return records  # the database is away: all of them wait
        return [r for r in records if r.decision_id not in stored]

    def _watch(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.wait(self._refresh_interval):
            try:
                self.refresh()
            except Exception:
                # The counters could not be read: keep answering with what is in force; the next
                # poll tries again.
                log.exception("refresh failed")
            self._flush_refusals()
            if time.monotonic() - last_flush >= LAST_USED_FLUSH_SECONDS:
                self._flush_last_used()
                last_flush = time.monotonic()

    # -- the decision ------------------------------------------------------------------------
    def check(self, raw_key: str | None, questions: list[Question], *, request_id: str | None,
              started: float, source: str | None = None) -> list[Outcome]:
        """Authenticate, decide each question, record every decision, then return the answers.

        An authentication failure gives one unauthenticated outcome (logged) for the whole call;
        past the allowance of its `source` (remote address), in an aggregate row (see _refused).
        Each question counts as one decision towards the rate limits of the caller's tier (its key or
        identity, and its organisation): the questions within them are decided in order, and those
        past them get a rate_limited deny (logged) and use up nothing.
        Raises DecisionLogUnavailable when the records cannot be committed: no answer without them,
        and RateLimitUnavailable when the rate-limit counters cannot be reached.
        """
        now = time.time()
        snapshot = self._snapshot
        try:
            principal = self.credentials.resolve(raw_key, now)
        except AuthFailure as failure:
            if not self.refusals.alone(source):
                return self._refused(failure, None, snapshot, started, now)
            outcomes = [Outcome(new_decision_id(int(now * 1e6)), False, failure.reason, None, None,
                                snapshot.version if snapshot else None, None, failure.prefix, False,
                                issuer=failure.issuer, subject=failure.subject, detail=failure.message)]
            # The row keeps what was asked (the first question of a batch), for whoever investigates.
            self._record(outcomes, questions[:1] or [None], [None], request_id, started, now)
            return outcomes
        allowance = None
        allowed = [True] * len(questions)
        if snapshot is not None and principal.tier is not None:
            tier = self._tier(snapshot, principal, None, now)
            allowance, allowed = self.rate_limiter.take_each(
                snapshot.document.rate_limits.get(tier),
                rate_holders(principal.rate_limit_key, principal.org_id),
                [snapshot.document.models.get(q.model) for q in questions])
        outcomes = []
        for q, go_ahead in zip(questions, allowed, strict=True):
            decision_id = new_decision_id(int(now * 1e6))
            if not go_ahead:
                assert snapshot is not None and allowance is not None  # only a counted call holds any back
                outcomes.append(Outcome(decision_id, False, Reason.RATE_LIMITED, None, tier, snapshot.version,
                                        principal.org_name, principal.key_prefix, True, allowance.retry_after,
                                        principal.issuer, principal.subject, snapshot.sign_off_of(q.model),
                                        quota=allowance))
                continue
            v = self._decide(snapshot, principal, q, now)
            spent = self._reserve(snapshot, principal, v, q, decision_id, now) if v.allow else None
            if spent is not None:
                v = Verdict(False, Reason.BUDGET_EXHAUSTED, None, v.tier, v.policy_version, v.sign_off_id)
            outcomes.append(Outcome(decision_id, v.allow, v.reason, v.rule, v.tier, v.policy_version,
                                    principal.org_name, principal.key_prefix, True,
                                    issuer=principal.issuer, subject=principal.subject,
                                    sign_off_id=v.sign_off_id, quota=allowance, spent=spent,
                                    would_allow=_would_allow(snapshot, principal.tier_cap, q, v)))
        self._record(outcomes, questions, [principal.org_id] * len(outcomes), request_id, started, now)
        return outcomes

    def _tier(self, snapshot: PolicySnapshot, principal: Principal, question: Question | None,
              now: float) -> str:
        """The tier the principal decides as: its own, raised by its grants in force for the
        question (None: by grants of a whole tier only), then held to the key's cap. Without any
        grant in force anywhere (nearly always) it costs one comparison more than the cap alone."""
        assert principal.tier is not None
        grants = self._grants
        if grants is None:
            return snapshot.effective_tier(principal.tier, principal.tier_cap)
        return grants.tier_for(snapshot, principal.tier, principal.tier_cap,
                               holder_of(principal.org_id, principal.issuer, principal.subject),
                               question.model if question else None,
                               question.capability if question else None, now)

    def decide_as(self, snapshot: PolicySnapshot, caller: Caller, model: str, capability: str,
                  now: float) -> Verdict:
        """The policy's answer for a caller resolved by the subject directory (AuthZEN, searches),
        its organisation's time-bound grants included, as on the key's own /v1/check."""
        if self._grants is not None:
            # The caller's tier is capped already: raised and capped again, it comes out the same.
            caller = replace(caller, tier=self._grants.tier_for(
                snapshot, caller.tier, caller.tier_cap, caller.org_id, model, capability, now))
        return snapshot.decide(caller, model, capability)

    def _reserve(self, snapshot: PolicySnapshot | None, principal: Principal, verdict: Verdict,
                 question: Question, decision_id: str, now: float) -> Spent | None:
        """Hold the allowed call's estimate against its organisation's budgets; the budget that
        refuses it, if one does. Raises RateLimitUnavailable when the counters cannot answer."""
        budgets = snapshot.document.budgets_for(verdict.tier, principal.org_name) if snapshot else ()
        if not budgets or principal.org_id is None:
            return None
        group = snapshot.document.models.get(question.model) if snapshot else None
        with counters_answer():
            return self.budgets.reserve(budgets, principal.org_id, group, decision_id,
                                        question.max_tokens, now)

    def settle_usage(self, recorded: Recorded) -> None:
        """Count a stored usage report against its organisation's budgets (once, however often it
        is sent), and put each threshold it crossed in the audit trail. Raises
        RateLimitUnavailable when the counters cannot answer: the reporter tries again."""
        snapshot, decided, usage = self._snapshot, recorded.decision, recorded.usage
        budgets = snapshot.document.budgets_for(decided.tier, decided.org_name) if snapshot else ()
        if not budgets or decided.org_id is None or snapshot is None:
            return
        tokens = usage.input_tokens + usage.output_tokens - recorded.counted_before[0]
        cost = (usage.cost_nanos or 0) - recorded.counted_before[1]
        group = snapshot.document.models.get(decided.model or "")
        with counters_answer():
            crossings = self.budgets.settle(budgets, decided.org_id, group, usage.decision_id,
                                            decided.at.timestamp(), tokens, cost, once=usage.reporter_kind)
        if crossings:
            record_crossings(self._engine, decided.org_id, usage.decision_id, crossings)

    def _decide(self, snapshot: PolicySnapshot | None, principal: Principal, question: Question,
                now: float) -> Verdict:
        if snapshot is None or principal.tier is None:
            return Verdict(False, Reason.UNKNOWN_TIER, None, principal.tier, 0)
        caller = Caller(
            org_id=principal.org_id or 0, org_name=principal.org_name or "",
            key_id=principal.key_id or 0, key_prefix=principal.key_prefix or "",
            tier=self._tier(snapshot, principal, question, now),
            org_suspended=principal.org_suspended, key_suspended=principal.key_suspended,
        )
        return snapshot.decide(caller, question.model, question.capability)

    def evaluate(self, pep_key: str | None, questions: list[SubjectQuestion], *,
                 request_id: str | None, started: float, stop_on: bool | None = None,
                 source: str | None = None) -> list[Outcome]:
        """Authenticate the enforcement point, decide each question about its subject, record every
        decision (with the enforcement point's prefix), then return the answers.

        With `stop_on` set, deciding stops after the first answer equal to it (AuthZEN's
        deny_on_first_deny and permit_on_first_permit); only the questions decided are recorded.
        An unknown or refused subject is a deny, never an error. A failed authentication of the
        enforcement point gives one unauthenticated outcome (logged), as on /v1/check.
        Raises DecisionLogUnavailable when the records cannot be committed.
        """
        now = time.time()
        snapshot = self._snapshot
        try:
            # Read afresh: an enforcement point asks about everyone, so its suspension or revocation
            # holds at once on every worker (one indexed read; a client key follows the cache).
            entry = self.keys.authenticate(pep_key, now, PEP, fresh=True)
        except AuthFailure as failure:
            if not self.refusals.alone(source):
                return self._refused(failure, failure.prefix, snapshot, started, now)
            outcomes = [Outcome(new_decision_id(int(now * 1e6)), False, failure.reason, None, None,
                                snapshot.version if snapshot else None, None, None, False,
                                detail=failure.message)]
            self._record(outcomes, [_plain(q) for q in questions[:1]] or [None], [None], request_id,
                         started, now, pep_prefix=failure.prefix)
            return outcomes
        outcomes, callers = [], []
        for q in questions:
            verdict, caller = self._decide_about(snapshot, q, now)
            outcomes.append(Outcome(
                new_decision_id(int(now * 1e6)), verdict.allow, verdict.reason, verdict.rule,
                verdict.tier, verdict.policy_version, caller.org_name if caller else None,
                caller.key_prefix or None if caller else None, True, sign_off_id=verdict.sign_off_id,
                would_allow=_would_allow(snapshot, caller.tier_cap if caller else None, _plain(q), verdict)))
            callers.append(caller)
            if stop_on is not None and verdict.allow == stop_on:
                break
        decided = [_plain(q) for q in questions[:len(outcomes)]]  # a short-circuit stops early
        self._record(outcomes, decided, [c.org_id if c else None for c in callers],
                     request_id, started, now, pep_prefix=entry.prefix)
        return outcomes

    def _decide_about(self, snapshot: PolicySnapshot | None,
                      question: SubjectQuestion, now: float) -> tuple[Verdict, Caller | None]:
        version = snapshot.version if snapshot else 0
        if snapshot is None:
            return Verdict(False, Reason.UNKNOWN_TIER, None, None, version), None
        if question.resource_type != MODEL_RESOURCE:
            return Verdict(False, Reason.UNKNOWN_RESOURCE_TYPE, None, None, version), None
        try:
            caller = self.subjects.resolve(question.subject, snapshot, now)
        except SubjectRefused as refused:
            return Verdict(False, refused.reason, None, None, version), None
        # Counted as a check by the subject itself would be: asking through an enforcement point
        # buys no decisions past the subject's limits.
        _allowance, (go_ahead,) = self.rate_limiter.take_each(
            snapshot.document.rate_limits.get(caller.tier), rate_holders(caller.key_prefix, caller.org_id),
            [snapshot.document.models.get(question.model)])
        if not go_ahead:
            return Verdict(False, Reason.RATE_LIMITED, None, caller.tier, version,
                           snapshot.sign_off_of(question.model)), caller
        return self.decide_as(snapshot, caller, question.model, question.capability, now), caller

    def _refused(self, failure: AuthFailure, pep_prefix: str | None, snapshot: PolicySnapshot | None,
                 started: float, now: float) -> list[Outcome]:
        """A refusal past its source's allowance: counted into the aggregate row for its reason,
        committed within a second (govern.decisions.refusals), and answered without waiting."""
        version = snapshot.version if snapshot else None
        decision_id = self.refusals.absorb(failure.reason, pep_prefix, version, now)
        outcomes = [Outcome(decision_id, False, failure.reason, None, None, version, None, None, False,
                            detail=failure.message)]
        self._observe(outcomes, started)
        return outcomes

    @staticmethod
    def _observe(outcomes: Sequence[Outcome], started: float) -> int:
        """Count the outcomes in the metrics; the latency so far, in microseconds."""
        elapsed = time.perf_counter() - started
        for outcome in outcomes:
            metrics.DECISIONS.labels("allow" if outcome.allow else "deny", outcome.tier or "",
                                     outcome.reason.value).inc()
        metrics.DECISION_LATENCY.observe(elapsed)
        return int(elapsed * 1e6)

    def _record(self, outcomes: Sequence[Outcome], questions: Sequence[Question | None],
                org_ids: Sequence[int | None], request_id: str | None, started: float, now: float,
                pep_prefix: str | None = None) -> None:
        """Commit one row per outcome (with what was asked and whose organisation), then return."""
        latency_us = self._observe(outcomes, started)
        created_us = int(now * 1e6)
        self.log.record([
            DecisionRecord(
                decision_id=o.decision_id, created_at_us=created_us, request_id=request_id,
                org_id=org_id, key_prefix=o.key_prefix, tier=o.tier,
                model=q.model if q else None, capability=q.capability if q else None,
                allow=o.allow, reason=o.reason.value, policy_version=o.policy_version,
                latency_us=latency_us, pep_prefix=pep_prefix, issuer=o.issuer, subject=o.subject,
                org_name=o.org_name, sign_off_id=o.sign_off_id,
            )
            for o, q, org_id in zip(outcomes, questions, org_ids, strict=True)
        ])


def _would_allow(snapshot: PolicySnapshot | None, tier_cap: str | None, question: Question,
                 verdict: Verdict) -> str | None:
    """For a deny a higher tier would turn into an allow, that tier; None for any other answer, or
    when the key's cap (which no grant lifts) is below it. Read from the snapshot's memo."""
    if verdict.allow or verdict.reason not in REQUESTABLE or snapshot is None or verdict.tier is None:
        return None
    lowest = snapshot.lowest_allowing_tier(question.model, question.capability)
    if lowest is None or snapshot.higher_tier(verdict.tier, lowest) == verdict.tier:
        return None
    if tier_cap is not None and snapshot.higher_tier(tier_cap, lowest) != tier_cap:
        return None
    return lowest


def _plain(question: SubjectQuestion) -> Question:
    return Question(question.model, question.capability)
