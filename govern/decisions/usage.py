"""Usage reports: what an allowed call used (input and output tokens, cost), reported once per
decision by the gateway or model server that passed it on, for budgets to read later.

Who may report: an enforcement-point (pep) key, for any decision; a client key, only for a decision
of its own organisation (another organisation's decision is as unknown to it as a made-up id).
Only an allow used anything, so a deny's id is refused. A decision has one report: the same report
sent again (a retry after a lost answer) is answered as the first was, a different one is a
conflict and changes nothing, but for a gateway's report over the client's own: the gateway saw the
call, and a client must not lower its usage by reporting first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput, NotFound, echo
from govern.identity.directory import AuthFailure, KeyDirectory, KeyEntry
from govern.models import Decision, Usage
from govern.models.api_key import CLIENT, PEP
from govern.types import Reason

# Far above any one call (the longest contexts hold millions of tokens), far below what a sum of
# many reports in a 64-bit column could overflow.
MAX_TOKENS = 10**9
MAX_COST = Decimal(10**6)
NANO = Decimal(1).scaleb(-9)
# What a call used, in the decision exports after the decision's own columns (None: no report).
USAGE_COLUMNS = ("input_tokens", "output_tokens", "cost")
NO_USAGE: dict[str, Any] = dict.fromkeys(USAGE_COLUMNS)


@dataclass(frozen=True)
class UsageReport:
    decision_id: str
    input_tokens: int
    output_tokens: int
    cost_nanos: int | None = None
    model: str | None = None  # when given, it must be the decision's


@dataclass(frozen=True)
class Recorded:
    """A stored report; `new` is False when this report had been stored before. `counted_before`:
    the tokens and cost (nanos) already counted for the decision, when this report replaced one."""

    usage: Usage
    new: bool
    decision: Decided
    counted_before: tuple[int, int] = (0, 0)


@dataclass(frozen=True)
class Decided:
    """The decision a report is about, as budgets count it."""

    org_id: int | None
    tier: str | None
    model: str | None
    at: datetime
    org_name: str | None = None  # as when decided: the name organisation budgets are set by


def token_count(value: int, name: str) -> int:
    if not 0 <= value <= MAX_TOKENS:
        raise InvalidInput(f"{name} must be a whole number from 0 to {MAX_TOKENS}, not {echo(value)}",
                           code="invalid_usage")
    return value


def cost_nanos(value: int | float | str) -> int:
    """A cost given as a JSON number or a decimal string, in billionths of the currency unit
    (rounded half to even past the ninth decimal place). Negative, not a number, or over MAX_COST:
    InvalidInput."""
    try:
        cost = Decimal(str(value).strip())
    except InvalidOperation:
        cost = Decimal("NaN")
    if not cost.is_finite() or not 0 <= cost <= MAX_COST:
        raise InvalidInput(f"cost must be a decimal number from 0 to {MAX_COST}, not {echo(value)}",
                           code="invalid_usage")
    return int(cost.quantize(NANO, rounding=ROUND_HALF_EVEN).scaleb(9))


def cost_text(nanos: int | None) -> str | None:
    """A stored cost as a decimal string with nine places, as reports and exports show it."""
    return None if nanos is None else str(Decimal(nanos).scaleb(-9).quantize(NANO))


def reporter(keys: KeyDirectory, raw_key: str | None, now: float) -> KeyEntry:
    """The key a report comes with: a pep key (read afresh, as for AuthZEN) or a client key;
    AuthFailure otherwise (an admin key included)."""
    try:
        return keys.authenticate(raw_key, now, PEP, fresh=True)
    except AuthFailure as failure:
        if failure.reason is not Reason.KEY_WRONG_KIND:
            raise
    try:
        return keys.authenticate(raw_key, now, CLIENT)
    except AuthFailure as failure:
        if failure.reason is Reason.KEY_WRONG_KIND:
            raise AuthFailure(failure.reason, failure.prefix,
                              message="usage is reported with a client key or an enforcement-point (pep) key"
                              ) from None
        raise


def record_usage(engine: Engine, by: KeyEntry, report: UsageReport, now: datetime) -> Recorded:
    """Store `report` for its decision, made by key `by` (`new`: the stored figures are now these).
    Raises NotFound (no such decision, or not one `by` may report on), Conflict (a deny; another
    model than the decision's; different figures already stored that `by` may not replace)."""
    with Session(engine, expire_on_commit=False) as session:
        decision = session.get(Decision, report.decision_id)
        if decision is None or (by.kind != PEP and decision.org_id != by.org_id):
            raise NotFound(f"no decision {echo(report.decision_id)} this key may report usage on",
                           code="decision_not_found")
        if not decision.allow:
            raise Conflict(f"decision {report.decision_id} was a deny ({decision.reason}): nothing was used",
                           code="decision_not_allowed")
        if report.model is not None and report.model != decision.model:
            raise Conflict(f"decision {report.decision_id} was for model {echo(decision.model)}, "
                           f"not {echo(report.model)}", code="model_mismatch")
        decided = Decided(decision.org_id, decision.tier, decision.model, decision.created_at,
                          decision.org_name)
        stored = session.get(Usage, report.decision_id)
        if stored is None:
            stored = Usage(decision_id=decision.decision_id, org_id=decision.org_id,
                           key_prefix=decision.key_prefix, model=decision.model, reported_at=now,
                           **_figures(by, report))
            session.add(stored)
            try:
                session.commit()
                return Recorded(stored, True, decided)
            except IntegrityError:  # another report for it landed meanwhile: compare with that one
                session.rollback()
                stored = _stored(session, report.decision_id)
        if (stored.input_tokens, stored.output_tokens, stored.cost_nanos) == (
                report.input_tokens, report.output_tokens, report.cost_nanos):
            return Recorded(stored, False, decided)
        # The gateway's figures stand over the client's own (a client must not lower its usage by
        # reporting first); a conditional update, so two gateways' reports cannot both replace it.
        if by.kind == PEP and stored.reporter_kind == CLIENT:
            before = (stored.input_tokens + stored.output_tokens, stored.cost_nanos or 0)
            replaced = session.execute(
                update(Usage).where(Usage.decision_id == report.decision_id, Usage.reporter_kind == CLIENT)
                .values(reported_at=now, **_figures(by, report)))
            session.commit()
            if replaced.rowcount == 1:  # type: ignore[attr-defined]
                return Recorded(_stored(session, report.decision_id), True, decided, before)
        raise Conflict(f"usage of decision {report.decision_id} was already reported, with other figures",
                       code="usage_already_reported")


def _figures(by: KeyEntry, report: UsageReport) -> dict[str, Any]:
    return {"input_tokens": report.input_tokens, "output_tokens": report.output_tokens,
            "cost_nanos": report.cost_nanos, "reported_by": by.prefix, "reporter_kind": by.kind}


def _stored(session: Session, decision_id: str) -> Usage:
    session.expire_all()
    return session.execute(select(Usage).where(Usage.decision_id == decision_id)).scalar_one()


def find_usage(session: Session, decision_id: str) -> Usage | None:
    return session.get(Usage, decision_id)


def usage_fields(session: Session, decision_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The usage columns of an export (USAGE_COLUMNS) for those of `decision_ids` that have a report,
    by decision id; read by primary key, so a sparse filter reads only its own reports."""
    rows = session.connection().execute(
        select(Usage.decision_id, Usage.input_tokens, Usage.output_tokens, Usage.cost_nanos)
        .where(Usage.decision_id.in_(decision_ids)))
    return {decision_id: {"input_tokens": tokens_in, "output_tokens": tokens_out, "cost": cost_text(nanos)}
            for decision_id, tokens_in, tokens_out, nanos in rows}


def usage_dict(usage: Usage, currency: str) -> dict[str, object]:
    return {"decision_id": usage.decision_id, "model": usage.model, "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens, "cost": cost_text(usage.cost_nanos),
            "currency": currency, "reported_by": usage.reported_by,
            "reported_at": usage.reported_at.isoformat()}
