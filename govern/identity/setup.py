"""First-run set-up: the first admin, and demo data for trying govern out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from govern.errors import NotFound
from govern.identity.keys import KeyInfo, find_key, get_key, issue_key, key_status, list_keys, revoke_key
from govern.identity.organisations import create_org, find_org
from govern.identity.tokens import digest_matches, prefix_of
from govern.identity.users import create_user, new_password
from govern.models import User
from govern.models.api_key import CLIENT
from govern.models.base import utcnow
from govern.policy.store import change_policy, current_document

# Demo models, one group each, chosen so each tier sees something the tier below does not.
DEMO_MODELS = {
    "open": ["open-7b"],
    "standard": ["chat-standard"],
    "frontier": ["frontier-1"],
    "research": ["research-preview"],
}
DEMO_KEY_NAME = "demo key"


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


def working_key(session: Session, secret: str | None) -> KeyInfo | None:
    """The key `secret` is, if it is a whole key that works now (not revoked, expired or suspended)."""
    prefix = prefix_of(secret or "")
    if secret is None or prefix is None:
        return None
    try:
        key = find_key(session, prefix)
    except NotFound:
        return None
    if not digest_matches(secret, key.digest) or key_status(key, utcnow()) != "active":
        return None
    return get_key(session, prefix)


def retire_demo_keys(session: Session, *, actor: str, kind: str, name: str,
                     org: str | None = None) -> None:
    """Revoke the live keys a demo made earlier, before it makes their replacement."""
    for info in list_keys(session, org=org):
        if info.kind == kind and info.name == name and info.status in ("active", "suspended"):
            revoke_key(session, info.prefix, actor=actor)


def load_demo(session: Session, *, actor: str, kept: Mapping[str, str] | None = None) -> list[DemoKey]:
    """Demo models in the default groups and one organisation per tier, each with one working key.

    Safe to run again: the organisations are reused, and an organisation's key in `kept`
    (organisation name → key, as an earlier run wrote them down) that still works is handed back.
    Otherwise its earlier demo keys are revoked and one new key is issued, so no run leaves more than
    one live demo key per organisation."""
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
        secret = (kept or {}).get(name)
        info = working_key(session, secret)
        if secret is None or info is None or info.organisation != name or info.name != DEMO_KEY_NAME:
            retire_demo_keys(session, actor=actor, kind=CLIENT, name=DEMO_KEY_NAME, org=name)
            secret = issue_key(session, actor=actor, org=name, name=DEMO_KEY_NAME).secret
        keys.append(DemoKey(name, tier, secret))
    return keys
