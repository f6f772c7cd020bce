"""First-run set-up: the first admin, and demo data for trying govern out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.identity.keys import issue_key
from govern.identity.organisations import create_org, find_org
from govern.identity.users import create_user, new_password
from govern.models import User
from govern.policy.store import change_policy, current_document

# Demo models, one group each, chosen so each tier sees something the tier below does not.
DEMO_MODELS = {
    "open": ["open-7b"],
    "standard": ["chat-standard"],
    "frontier": ["frontier-1"],
    "research": ["research-preview"],
}


@dataclass(frozen=True)
class AdminCredentials:
    username: str
    password: str
    api_key: str


@dataclass(frozen=True)
class DemoKey:
    organisation: str
    tier: str
    key: str


def create_first_admin(session: Session, *, actor: str, username: str) -> AdminCredentials | None:
    """A user with every role and an admin API key, if nobody exists yet; None otherwise."""
    if session.execute(select(func.count()).select_from(User)).scalar_one():
        return None
    password = new_password()
    user = create_user(session, actor=actor, username=username, password=password,
                       roles=frozenset({"admin", "reviewer", "approver", "board", "auditor"}))
    issued = issue_key(session, actor=actor, user_id=user.id, name="first admin key")
    return AdminCredentials(username, password, issued.secret)


def _add_demo_models(raw: dict[str, object]) -> None:
    groups = raw.setdefault("model_groups", {})
    assert isinstance(groups, dict)
    for group, models in DEMO_MODELS.items():
        members = groups.setdefault(group, [])
        members.extend(model for model in models if model not in members)


def load_demo(session: Session, *, actor: str) -> list[DemoKey]:
    """Demo models in the default groups and one organisation per tier, each with a new key.

    Safe to run again: existing demo organisations get another key."""
    document = current_document(session)
    if any(model not in document.models for models in DEMO_MODELS.values() for model in models):
        change_policy(session, _add_demo_models, actor=actor, comment="demo models")
    keys = []
    for tier in document.tiers:
        name = f"demo-{tier}"
        try:
            find_org(session, name)
        except NotFound:
            create_org(session, actor=actor, name=name, tier=tier)
        issued = issue_key(session, actor=actor, org=name, name="demo key")
        keys.append(DemoKey(name, tier, issued.secret))
    return keys
