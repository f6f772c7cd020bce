"""Plain factory functions with sensible defaults; every one goes through the services."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from govern.decisions.usage import UsageReport, cost_nanos, record_usage, reporter
from govern.errors import GovernError
from govern.governance.checklists import ItemUpdate, update_items
from govern.governance.live_checks import LiveFacts
from govern.governance.presets import get_preset, preset_checklist
from govern.governance.registry import register_model
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import sign_off
from govern.identity.directory import KeyDirectory
from govern.identity.keys import issue_key, issue_pep_key
from govern.identity.organisations import create_org, get_org
from govern.identity.people import update_person
from govern.identity.setup import load_demo
from govern.identity.users import create_user
from govern.models import ChecklistItem, Decision, GovernedModel, SignOff, User
from govern.models.base import utcnow
from govern.notifications.endpoints import add_endpoint
from govern.policy.store import change_policy, current_document
from govern.resources import resource_dir

ACTOR = "test:factory"
MODELS = {"open": ["open-7b"], "standard": ["chat-standard"], "frontier": ["frontier-1"],
          "research": ["research-preview"]}


def add_models(session: Session, models: dict[str, list[str]] | None = None) -> int:
    """Put models into groups of the live policy; returns the new policy version."""

    def edit(raw: dict) -> None:  # type: ignore[type-arg]
        for group, names in (models or MODELS).items():
            raw["model_groups"].setdefault(group, [])
            raw["model_groups"][group] += [n for n in names if n not in raw["model_groups"][group]]

    return change_policy(session, edit, actor=ACTOR, comment="test models")


def make_org(session: Session, name: str = "acme", tier: str = "verified") -> int:
    return create_org(session, actor=ACTOR, name=name, tier=tier).id


def make_key(session: Session, org: str | int = "acme", *, tier: str | None = None,
             **options: object) -> str:
    """A client key (the whole secret); makes the organisation first when `tier` is given."""
    if tier is not None:
        make_org(session, str(org), tier)
    else:
        get_org(session, org)
    return issue_key(session, actor=ACTOR, org=org, **options).secret  # type: ignore[arg-type]


def make_pep_key(session: Session, name: str = "gateway") -> str:
    """A key for a policy enforcement point (the whole secret)."""
    return issue_pep_key(session, actor=ACTOR, name=name).secret


def make_user_key(session: Session, username: str = "alice",
                  roles: frozenset[str] = frozenset({"admin"})) -> str:
    """An admin-kind key for a new user holding `roles`."""
    user = create_user(session, actor=ACTOR, username=username, password="a-long-password-123",
                       roles=roles)
    return issue_key(session, actor=ACTOR, user_id=user.id).secret


def demo_keys(session: Session) -> dict[str, str]:
    """The demo data; returns tier -> key."""
    return {item.tier: item.key for item in load_demo(session, actor=ACTOR)}


CATEGORIES_2023 = ("cbrn", "cybersecurity", "persuasion", "model_autonomy")


def make_governed_model(session: Session, name: str = "gov-model", *, group: str = "standard",
                        post: str | None = None, rater: str = "user:rita") -> GovernedModel:
    """A model under governance (2023 preset); with `post`, every category rated at that
    post-mitigation level (pre-mitigation `high`, or `critical` when post is critical)."""
    model = register_model(session, actor=ACTOR, name=name, version="1.0", owner="team",
                           model_group=group)
    if post is not None:
        for category in CATEGORIES_2023:
            rate_category(session, actor=rater, model=model, category=category,
                          pre_level="critical" if post == "critical" else "high", post_level=post,
                          evidence="eval report")
    return model


def make_signed_model(session: Session, name: str = "gov-model", *, group: str = "standard",
                      tier: str = "verified", approver: str = "user:boss",
                      reviewers: tuple[str, ...] = ("user:rev1", "user:rev2"),
                      ) -> tuple[GovernedModel, SignOff]:
    """A governed model rated medium by user:rita, each of `reviewers` recommending to open it to
    `tier`, and `approver`'s sign-off opening it to `tier`."""
    model = make_governed_model(session, name, group=group, post="medium")
    for reviewer in reviewers:
        record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier,
                      rationale=f"{reviewer} finds it safe for {tier}")
    return model, ready_sign_off(session, actor=approver, model=model, tier=tier)


# -- the launch checklist ------------------------------------------------------------------------
# What a running service would report to the live checks: decision logging healthy, the feedback
# intake on, an escalation path (service tests need no people or webhooks for it).
LIVE = LiveFacts(decision_logging=True, feedback_intake=True, escalation_recipients=("oncall@example.com",),
                 escalation_webhooks=(1,))
GENEROUS_LIMIT = {"per_minute": 1_000_000, "per_day": 100_000_000}
CHECKLIST_OWNER = "checklist-owner"


def set_rate_limits(session: Session) -> None:
    """A generous rate limit for every tier that has none (the checklist's rate_limits check)."""
    document = current_document(session)
    missing = [tier for tier in document.tiers if tier not in document.rate_limits]
    if not missing:
        return

    def edit(raw: dict) -> None:  # type: ignore[type-arg]
        raw.setdefault("rate_limits", {})
        for tier in missing:
            raw["rate_limits"][tier] = dict(GENEROUS_LIMIT)

    change_policy(session, edit, actor=ACTOR, comment="rate limits for the launch checklist")


def complete_checklist(session: Session, model: GovernedModel, *, actor: str = ACTOR) -> None:
    """Every item of the model version's launch checklist done, owned by user:checklist-owner."""
    if session.execute(select(User.id).where(User.username == CHECKLIST_OWNER)).scalar() is None:
        create_user(session, actor=ACTOR, username=CHECKLIST_OWNER, password="a-long-password-123",
                    roles=frozenset())
    items = preset_checklist(get_preset(model.preset)).items
    update_items(session, actor=actor, model=model, updates=[
        ItemUpdate(item.id, "done", CHECKLIST_OWNER, f"{item.title}: checked") for item in items])


def make_launch_ready(session: Session, model: GovernedModel) -> None:
    """What a sign-off needs besides ratings and reviews: rate limits for every tier and the
    model's checklist complete (a superseded or retired version is left as it is)."""
    set_rate_limits(session)
    if session.execute(select(ChecklistItem.id).where(ChecklistItem.model_id == model.id)).first() is None:
        try:
            complete_checklist(session, model)
        except GovernError:
            session.rollback()


def ready_sign_off(session: Session, *, actor: str, model: GovernedModel, tier: str,
                   **options: Any) -> SignOff:
    """sign_off once the model is launch-ready (see make_launch_ready), with LIVE facts."""
    make_launch_ready(session, model)
    return sign_off(session, actor=actor, model=model, tier=tier, facts=LIVE, **options)


def make_escalation_path(session: Session, secret_key: str) -> None:
    """For sign-offs through the UI or the API, which read the escalation path from the database:
    a board member with an e-mail address and an enabled webhook, both taking incident.opened."""
    user = create_user(session, actor=ACTOR, username="oncall", password="a-long-password-123",
                       roles=frozenset({"board"}))
    update_person(session, actor=ACTOR, person_id=user.person_id, email="oncall@example.com")
    add_endpoint(session, actor=ACTOR, url="http://127.0.0.1:9/incidents", event_types=["incident.opened"],
                 secret_key=secret_key, allow_private=True, description="escalation")


def insert_decisions(session: Session, count: int, *, start: datetime, step: timedelta = timedelta(seconds=1),
                     **fields: object) -> list[str]:
    """`count` decision rows at `start`, `start + step`, ..., written as the decision log's writer
    writes them (the check path would stamp them with the current time); returns their ids, oldest
    first. `fields` override the defaults (org 1, key gvk_0123456789ab, tier verified, ...)."""
    rows = []
    for number in range(count):
        moment = start + number * step
        micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
        rows.append({
            "decision_id": f"{micros:014x}{number:012x}", "created_at": moment, "request_id": None,
            "org_id": 1, "key_prefix": "gvk_0123456789ab", "tier": "verified", "model": "chat-standard",
            "capability": "generate", "allow": True, "reason": "granted_by_tier", "policy_version": 1,
            "latency_us": 250, **fields,
        })
    session.execute(insert(Decision), rows)
    session.commit()
    return [str(row["decision_id"]) for row in rows]


SHIPPED_MODEL = (resource_dir("policies") / "model.conf").read_text()


def casbin_model(matcher: str) -> str:
    """The shipped Casbin model with its matcher line replaced by `m = MATCHER`."""
    head, _, _ = SHIPPED_MODEL.rpartition("\nm = ")
    return f"{head}\nm = {matcher}\n"


def sha256_hex(text: str) -> str:
    """The digest an operator lists in GOVERN_ALLOWED_MODEL_SHA256 (`sha256sum model.conf`)."""
    return hashlib.sha256(text.encode()).hexdigest()


_decision_serial = iter(range(1, 1 << 40))


def log_decision(session: Session, *, org: str | None, tier: str, model: str, capability: str,
                 allow: bool, reason: str, at: datetime | None = None) -> str:
    """A decision-log row as the decision plane writes it (default: an hour ago); returns its id.
    The caller commits."""
    from govern.decisions.query import id_at
    from govern.models.base import utcnow

    moment = at or utcnow() - timedelta(hours=1)
    decision_id = f"{id_at(moment)}{next(_decision_serial):012x}"
    session.add(Decision(decision_id=decision_id, created_at=moment, tier=tier, model=model,
                         capability=capability, allow=allow, reason=reason, org_name=org,
                         latency_us=10, attempts=1))
    return decision_id


def report_usage(session: Session, decision_id: str, input_tokens: int, output_tokens: int,
                 cost: str | None = None) -> None:
    """Usage of a decision reported as a gateway reports it (POST /v1/usage), with a pep key of its
    own."""
    engine = session.get_bind()
    pep = reporter(KeyDirectory(engine), make_pep_key(session, f"gateway-{decision_id}"), time.time())
    session.commit()
    record_usage(engine, pep, UsageReport(decision_id, input_tokens, output_tokens,
                                          None if cost is None else cost_nanos(cost)), utcnow())
