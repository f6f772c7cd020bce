"""Do the rows that decide access say what their audit events say?

The hash chain proves the trail was not changed; it says nothing about a row of `sign_off`,
`policy_version` or `api_key` edited directly in the database, which changes decisions at once.
Each checker below compares one kind of row with the events recorded for it and names every row
that disagrees. A checker compares only the fields its events carry, so events recorded before a
field was added to them are not reported as disagreeing.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import (
    AccessRequest,
    ApiKey,
    AuditEvent,
    GovernanceHold,
    GovernedModel,
    Incident,
    IncidentAction,
    Organisation,
    PolicyVersion,
    RedTeamFinding,
    RiskRating,
    SafetyReview,
    SignOff,
    User,
)

BATCH = 2_000
SHOWN = 80  # characters of a long value in a message


@dataclass(frozen=True)
class Event:
    id: int
    actor: str
    action: str
    after: dict[str, Any]


@dataclass
class Trail:
    """The events of the trail by target, oldest first."""

    by_target: dict[str, list[Event]] = field(default_factory=lambda: defaultdict(list))

    def of(self, target: str, *actions: str) -> list[Event]:
        return [e for e in self.by_target.get(target, []) if not actions or e.action in actions]

    def newest(self, target: str, keep: Callable[[Event], bool] = lambda _: True) -> Event | None:
        return next((e for e in reversed(self.by_target.get(target, [])) if keep(e)), None)

    def targets(self, prefix: str) -> Iterator[str]:
        return (target for target in self.by_target if target.startswith(prefix))


def read_trail(session: Session) -> Trail:
    trail = Trail()
    after = 0
    while True:
        rows = session.execute(
            select(AuditEvent.id, AuditEvent.actor, AuditEvent.action, AuditEvent.target, AuditEvent.after)
            .where(AuditEvent.id > after).order_by(AuditEvent.id).limit(BATCH)).all()
        if not rows:
            return trail
        for event_id, actor, action, target, recorded in rows:
            trail.by_target[target].append(Event(event_id, actor, action, dict(recorded or {})))
        after = rows[-1][0]


def _show(value: Any) -> str:
    if value is None or value == "":
        return "empty"
    if isinstance(value, datetime):
        return repr(value.isoformat())
    if isinstance(value, list | tuple | frozenset | set):
        return repr(",".join(sorted(value)))
    if isinstance(value, str) and len(value) > SHOWN:
        return repr(value[:SHOWN] + "…")  # a Casbin model or a rationale: enough to recognise it
    return repr(value)


def _same(live: Any, recorded: Any) -> bool:
    if isinstance(live, datetime) or (live is None and isinstance(recorded, str) and recorded):
        try:
            recorded = datetime.fromisoformat(recorded) if isinstance(recorded, str) else recorded
        except ValueError:
            return False
    if isinstance(live, list | tuple | frozenset | set) and isinstance(recorded, list):
        return sorted(live) == sorted(recorded)
    return bool(live == recorded)


def _compare(label: str, live: dict[str, Any], recorded: dict[str, Any]) -> Iterator[str]:
    """One line per field the event carries whose live value differs."""
    for name, value in live.items():
        if name in recorded and not _same(value, recorded[name]):
            verb = "are" if isinstance(value, list | tuple | frozenset | set) else "is"
            yield f"{label}: {name} {verb} {_show(value)} but the trail says {_show(recorded[name])}"


def _pair(rows: list[Any], events: list[Event]) -> Iterator[tuple[Any | None, Event | None]]:
    """Rows with the events that recorded them: by the `id` an event carries, else (events
    recorded before they carried one) in order among the rows left."""
    by_id = {row.id: row for row in rows}
    claimed: set[int] = set()
    unnamed: list[Event] = []
    for event in events:
        if "id" in event.after:
            row = by_id.get(event.after["id"])
            claimed.add(event.after["id"])
            yield row, event
        else:
            unnamed.append(event)
    left = [row for row in rows if row.id not in claimed]
    for index, row in enumerate(left):
        yield row, unnamed[index] if index < len(unnamed) else None
    for event in unnamed[len(left):]:
        yield None, event


@dataclass
class Findings:
    rows: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, problems: Iterable[str]) -> None:
        self.problems.extend(problems)


def _models(session: Session) -> dict[int, GovernedModel]:
    return {m.id: m for m in session.execute(select(GovernedModel)).scalars()}


def check_policy_versions(session: Session, trail: Trail, found: Findings) -> None:
    rows = {row.version: row for row in session.execute(select(PolicyVersion)).scalars()}
    recorded = {int(t.split(":", 1)[1]): e for t in trail.targets("policy:")
                if (e := trail.newest(t, lambda e: e.action == "policy.change")) is not None}
    for version, row in sorted(rows.items()):
        found.rows += 1
        event = recorded.get(version)
        if event is None:
            found.add([f"policy_version {version}: the trail has no policy.change event for it"])
            continue
        document = event.after.get("document", event.after)
        changed = sorted(set(row.document) ^ set(document)
                         | {k for k in set(row.document) & set(document) if row.document[k] != document[k]})
        if changed:
            found.add([f"policy_version {version}: {', '.join(changed)} differ from the trail's "
                       f"policy.change event {event.id}"])
        # The Casbin model: its SHA-256 (and its text, when it changed) once events carry them.
        found.add(_compare(f"policy_version {version}",
                           {"actor": row.actor, "model_conf": row.model_conf,
                            "model_sha256": hashlib.sha256(row.model_conf.encode()).hexdigest()},
                           {"actor": event.actor, **{k: event.after[k] for k in ("model_conf", "model_sha256")
                                                     if k in event.after}}))
    for version in sorted(set(recorded) - set(rows)):
        found.add([f"policy_version {version} is in the trail (event {recorded[version].id}) "
                   "but its row is missing"])


def check_models(session: Session, trail: Trail, found: Findings) -> None:
    """Registration facts and the kill switch of each model under governance."""
    # The newest version of a name answers for it; its events are those since its registration.
    models = {m.name: m for m in sorted(_models(session).values(), key=lambda m: m.id)}
    for name, model in sorted(models.items()):
        found.rows += 1
        label = f"model {name}"
        events = trail.of(f"model:{name}")
        starts = [index for index, e in enumerate(events) if e.action == "model.register"]
        if not starts:
            found.add([f"{label}: the trail has no model.register event for it"])
            continue
        registered, since = events[starts[-1]], events[starts[-1]:]
        found.add(_compare(label, {"model_group": model.model_group, "preset": model.preset,
                                   "version": model.version, "owner": model.owner}, registered.after))
        switch = next((e for e in reversed(since) if e.action in ("model.suspend", "model.lift_suspension")),
                      None)
        # A new version starts with its predecessor's suspension, which its registration records.
        inherited = {"suspended": registered.after.get("suspended", False)}
        found.add(_compare(label, {"suspended": model.suspended}, switch.after if switch else inherited))
        retired = next((e for e in reversed(since) if e.action == "model.retire"), None)
        found.add(_compare(label, {"retired": model.retired_at is not None},
                           retired.after if retired else {"retired": False}))
        # The revision says which reviews count: set back, it would revive stale recommendations.
        ratings = [e for e in since if e.action == "model.rate"]
        found.add(_compare(label, {"revision": model.revision},
                           {"revision": max((int(e.after.get("revision", 0)) for e in ratings),
                                            default=0) or len(ratings)}))
    for target in sorted(trail.targets("model:")):
        name = target.split(":", 1)[1]
        if name not in models and trail.of(target, "model.register"):
            found.add([f"model {name} is in the trail but its row is missing"])


def _governance_rows(session: Session, trail: Trail, found: Findings, row_type: Any, kind: str,
                     action: str, facts: Callable[[Any], dict[str, Any]], actor_field: str) -> None:
    """Rows of one governance record kind (per model) against the events recording them; the
    event's actor is the row's `actor_field` (the approver, rater or reviewer)."""
    models = _models(session)
    rows: dict[str, list[Any]] = defaultdict(list)
    for row in session.execute(select(row_type).order_by(row_type.id)).scalars():
        model = models.get(row.model_id)
        rows[model.name if model else f"#{row.model_id}"].append(row)
    names = set(rows) | {t.split(":", 1)[1] for t in trail.targets("model:")}
    for name in sorted(names):
        for row, event in _pair(rows.get(name, []), trail.of(f"model:{name}", action)):
            if row is None:
                assert event is not None  # _pair never yields two Nones
                found.add([f"{kind} {event.after.get('id', '?')} of model {name} is in the trail "
                           f"(event {event.id}) but its row is missing"])
                continue
            found.rows += 1
            label = f"{kind} {row.id} of model {name}"
            if event is None:
                found.add([f"{label}: the trail has no {action} event for it"])
                continue
            found.add(_compare(label, {**facts(row), actor_field: getattr(row, actor_field)},
                               {**event.after, actor_field: event.actor}))


def check_sign_offs(session: Session, trail: Trail, found: Findings) -> None:
    _governance_rows(session, trail, found, SignOff, "sign_off", "model.sign_off",
                     lambda row: {"tier": row.tier, "conditions": row.conditions,
                                  "expires_at": row.expires_at, "revision": row.revision}, "approver")
    reversals = {e.after.get("id"): e for t in trail.targets("model:")
                 for e in trail.of(t, "model.reverse_sign_off")}
    models = _models(session)
    for row in session.execute(select(SignOff).order_by(SignOff.id)).scalars():
        model = models.get(row.model_id)
        label = f"sign_off {row.id} of model {model.name if model else row.model_id}"
        event = reversals.get(row.id)
        if event is None:
            if row.reversed_at is not None or row.reversed_by is not None:
                found.add([f"{label}: reversed_at is {_show(row.reversed_at)} but the trail has no "
                           "reversal of it"])
        elif row.reversed_at is None:
            found.add([f"{label}: reversed_at is empty but the trail says {event.actor} reversed it "
                       f"(event {event.id})"])
        else:
            found.add(_compare(label, {"reversed_at": row.reversed_at, "reversed_by": row.reversed_by,
                                       "reversal_rationale": row.reversal_rationale}, event.after))


def check_ratings(session: Session, trail: Trail, found: Findings) -> None:
    _governance_rows(session, trail, found, RiskRating, "risk_rating", "model.rate",
                     lambda row: {"category": row.category, "pre_level": row.pre_level,
                                  "post_level": row.post_level, "evidence": row.evidence,
                                  "links": row.links, "revision": row.revision}, "rater")


def check_reviews(session: Session, trail: Trail, found: Findings) -> None:
    _governance_rows(session, trail, found, SafetyReview, "safety_review", "model.review",
                     lambda row: {"recommendation": row.recommendation, "tier": row.tier,
                                  "rationale": row.rationale, "revision": row.revision}, "reviewer")


def check_holds(session: Session, trail: Trail, found: Findings) -> None:
    """Holds after a reversal (or a lifted suspension): deleted or ended behind govern's back, a
    held model would be open again."""
    models = _models(session)
    recorded: dict[int, tuple[str, Event]] = {}
    ended: dict[int, Event] = {}
    for target in trail.targets("model:"):
        for event in trail.of(target):
            if "hold" in event.after:
                recorded[int(event.after["hold"])] = (target.split(":", 1)[1], event)
            if event.action == "model.sign_off" and "ended_hold" in event.after:
                ended[int(event.after["ended_hold"])] = event
    rows = {hold.id: hold for hold in session.execute(select(GovernanceHold)).scalars()}
    for hold_id, hold in sorted(rows.items()):
        found.rows += 1
        model = models.get(hold.model_id)
        label = f"governance_hold {hold_id} of model {model.name if model else hold.model_id}"
        if hold_id not in recorded:
            found.add([f"{label}: the trail has no event starting it"])
            continue
        name, event = recorded[hold_id]
        end = ended.get(hold_id)
        found.add(_compare(label, {"model": model.name if model else None, "cause": hold.cause,
                                   "reviews_after": hold.last_review_id, "released_by": hold.released_by,
                                   "release_rationale": hold.release_rationale,
                                   "ended_by_sign_off": hold.ended_by_sign_off_id},
                           {**event.after, "model": name,
                            "ended_by_sign_off": end.after.get("id") if end else None}))
    for hold_id in sorted(set(recorded) - set(rows)):
        name, event = recorded[hold_id]
        found.add([f"governance_hold {hold_id} of model {name} is in the trail (event {event.id}) "
                   "but its row is missing"])


def _org_names(trail: Trail) -> dict[int, set[str]]:
    """Every name each organisation has had, from its events: keys record the name of the day."""
    names: dict[int, set[str]] = defaultdict(set)
    for target in trail.targets("org:"):
        for event in trail.of(target):
            if "name" in event.after:
                names[int(target.split(":", 1)[1])].add(str(event.after["name"]))
    return names


def check_organisations(session: Session, trail: Trail, found: Findings) -> None:
    orgs = {o.id: o for o in session.execute(select(Organisation)).scalars()}
    for org_id, org in sorted(orgs.items()):
        found.rows += 1
        label = f"organisation {org_id} ({org.name})"
        event = trail.newest(f"org:{org_id}")
        if event is None or event.action == "org.delete":
            found.add([f"{label}: the trail has no event creating it"
                       if event is None else f"{label}: the trail says it was deleted (event {event.id})"])
            continue
        found.add(_compare(label, {"name": org.name, "tier": org.tier, "suspended": org.suspended},
                           event.after))
    for target in sorted(trail.targets("org:")):
        org_id = int(target.split(":", 1)[1])
        last = trail.newest(target)
        if org_id not in orgs and last is not None and last.action != "org.delete":
            found.add([f"organisation {org_id} is in the trail (event {last.id}) but its row is missing"])


def check_keys(session: Session, trail: Trail, found: Findings) -> None:
    orgs = {o.id: o.name for o in session.execute(select(Organisation)).scalars()}
    users = {u.id: u.username for u in session.execute(select(User)).scalars()}
    org_names = _org_names(trail)
    for key in session.execute(select(ApiKey).order_by(ApiKey.id)).scalars():
        found.rows += 1
        label = f"api_key {key.prefix}"
        event = trail.newest(f"key:{key.prefix}")
        if event is None:
            found.add([f"{label}: the trail has no event issuing it"])
            continue
        recorded = dict(event.after)
        if key.org_id is not None and recorded.get("organisation") in org_names.get(key.org_id, ()):
            recorded["organisation"] = orgs.get(key.org_id)  # renamed since; the same organisation
        found.add(_compare(label, {
            "kind": key.kind, "revoked_at": key.revoked_at, "suspended": key.suspended,
            "expires_at": key.expires_at, "tier_cap": key.tier_cap,
            "organisation": orgs.get(key.org_id) if key.org_id else None,
            "user": users.get(key.user_id) if key.user_id else None}, recorded))


def check_users(session: Session, trail: Trail, found: Findings) -> None:
    """Each user's roles (and active state, once events carry it) as last recorded."""
    for user in session.execute(select(User).order_by(User.id)).scalars():
        found.rows += 1
        label = f"user {user.id} ({user.username})"
        target = f"user:{user.id}"
        granted = trail.newest(target, lambda e: "roles" in e.after)
        if granted is None:
            if user.role_set:
                found.add([f"{label}: roles are {_show(user.role_set)} but the trail never granted any"])
        else:
            found.add(_compare(label, {"roles": sorted(user.role_set)}, granted.after))
        state = trail.newest(target, lambda e: "active" in e.after)
        if state is not None:
            found.add(_compare(label, {"active": user.active}, state.after))


def check_access_requests(session: Session, trail: Trail, found: Findings) -> None:
    """Each access request as last created or decided: a grant written behind govern's back (or
    lengthened) would let its holder decide as a higher tier."""
    for row in session.execute(select(AccessRequest).order_by(AccessRequest.id)).scalars():
        found.rows += 1
        label = f"access_request {row.id}"
        event = trail.newest(f"access_request:{row.id}",
                             lambda e: e.action in ("access_request.create", "access_request.decide"))
        if event is None:
            found.add([f"{label}: the trail has no event creating it"])
            continue
        found.add(_compare(label, {
            "state": row.state, "org_id": row.org_id, "issuer": row.issuer, "subject": row.subject,
            "kind": row.kind, "tier": row.tier, "model": row.model, "capability": row.capability,
            "duration_seconds": row.duration_seconds, "expires_at": row.expires_at}, event.after))


def check_red_team_findings(session: Session, trail: Trail, found: Findings) -> None:
    """Each red-team finding as its newest event left it: one set to accepted or mitigated, or
    lowered in severity, behind govern's back would stop blocking a sign-off (the gate reads the
    trail too, so it still blocks; this names the row)."""
    newest: dict[int, tuple[str, Event]] = {}
    for target in trail.targets("model:"):
        for event in trail.of(target, "red_team.finding", "red_team.mitigate", "red_team.accept",
                              "red_team.reopen"):
            if isinstance(event.after.get("finding"), int):
                newest[event.after["finding"]] = (target.split(":", 1)[1], event)
    rows = {row.id: row for row in session.execute(select(RedTeamFinding)).scalars()}
    for finding_id, row in sorted(rows.items()):
        found.rows += 1
        label = f"red_team_finding {finding_id}"
        if finding_id not in newest:
            found.add([f"{label}: the trail has no event recording it"])
            continue
        name, event = newest[finding_id]
        found.add(_compare(f"{label} of model {name}", {
            "model_id": row.model_id, "exercise": row.exercise_id, "title": row.title,
            "category": row.category, "severity": row.severity, "status": row.status,
            "reported_by": row.reported_by, "resolution": row.resolution,
            "resolved_by": row.resolved_by}, event.after))
    for finding_id in sorted(set(newest) - set(rows)):
        name, event = newest[finding_id]
        found.add([f"red_team_finding {finding_id} of model {name} is in the trail (event {event.id}) "
                   "but its row is missing"])


def check_incident_holds(session: Session, trail: Trail, found: Findings) -> None:
    """What holds a suspension for an incident: a holding action deleted or unset behind govern's
    back, or a post-incident review marked complete without one, would let the suspension be lifted."""
    recorded: dict[int, tuple[str, Event]] = {}
    completed: dict[str, Event] = {}
    for target in trail.targets("incident:"):
        for event in trail.of(target, "incident.action"):
            if event.after.get("holds") is True and "id" in event.after:
                recorded[int(event.after["id"])] = (target, event)
        done = trail.newest(target,
                            lambda e: e.action == "incident.review" and e.after.get("complete") is True)
        if done is not None:
            completed[target] = done
    rows = {row.id: row for row in session.execute(select(IncidentAction)).scalars()}
    for action_id, (target, event) in sorted(recorded.items()):
        row = rows.get(action_id)
        if row is None:
            found.add([f"incident_action {action_id} of {target} holds a suspension in the trail "
                       f"(event {event.id}) but its row is missing"])
            continue
        found.rows += 1
        found.add(_compare(f"incident_action {action_id} of {target}",
                           {"holds": row.holds, "target": row.target, "kind": row.kind,
                            "incident": f"incident:{row.incident_id}"},
                           {**event.after, "incident": target}))
    for incident in session.execute(select(Incident).where(Incident.reviewed_at.is_not(None))).scalars():
        found.rows += 1
        if f"incident:{incident.id}" not in completed:
            found.add([f"incident {incident.id}: reviewed_at is {_show(incident.reviewed_at)} but the trail "
                       "has no post-incident review reaching its quorum"])


CHECKERS = (check_policy_versions, check_models, check_sign_offs, check_holds, check_ratings,
            check_reviews, check_organisations, check_keys, check_users, check_access_requests,
            check_red_team_findings, check_incident_holds)


def check_live_state(session: Session) -> Findings:
    """Every row that decides access against the trail; `problems` names each one that disagrees."""
    trail = read_trail(session)
    found = Findings()
    for checker in CHECKERS:
        checker(session, trail, found)
    return found
