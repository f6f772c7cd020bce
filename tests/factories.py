"""Plain factory functions with sensible defaults; every one goes through the services."""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from govern.decisions.usage import UsageReport, cost_nanos, record_usage, reporter
from govern.governance.registry import register_model
from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.governance.signoffs import sign_off
from govern.identity.directory import KeyDirectory
from govern.identity.keys import issue_key, issue_pep_key
from govern.identity.organisations import create_org, get_org
from govern.identity.setup import load_demo
from govern.identity.users import create_user
from govern.models import Decision, GovernedModel, SignOff
from govern.models.base import utcnow
from govern.policy.store import change_policy
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
    return model, sign_off(session, actor=approver, model=model, tier=tier)


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
