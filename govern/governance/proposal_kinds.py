"""The kinds of guarded change. Each kind says what its target looks like now (the base a proposal
is checked against when approved), what it will look like after, how far the change reaches
(`Guard`), and which direct service function applies it.

A kind is registered once in KINDS, by one `register(Kind(name, target, apply, ...))` line (state,
after and guard default to "no base", "the payload" and "always guarded").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput
from govern.governance import grants
from govern.identity import issuers, keys, organisations
from govern.identity.issuer_config import parse_issuer
from govern.identity.people import find_account, find_person, leaves_a_single_admin, link_account
from govern.identity.users import check_roles, create_user, find_user, grant_role, new_password, remove_role
from govern.models import Organisation, User
from govern.policy.document import parse_document
from govern.policy.store import check_policy, current_document, current_policy, save_policy

Payload = dict[str, Any]
State = dict[str, Any] | None

# Roles that take part in governance decisions or can hand out power: never granted by one person.
GOVERNANCE_ROLES = frozenset({"reviewer", "approver", "board", "admin"})


class Guard(enum.Enum):
    NONE = "none"  # cannot widen access: applies directly
    GUARDED = "guarded"  # needs a second admin when there is one; applied alone and flagged otherwise
    GOVERNANCE = "governance"  # grants a governance role: always two people, or the host operator


@dataclass(frozen=True)
class Change:
    """A change someone asks for: a registered kind and its payload (plain JSON values)."""

    kind: str
    payload: Payload


def _same(session: Session, payload: Payload) -> State:
    return None


def _payload(session: Session, payload: Payload, base: State) -> State:
    return payload


def _guarded(session: Session, base: State, after: State) -> Guard:
    return Guard.GUARDED


@dataclass(frozen=True)
class Kind:
    name: str
    target: Callable[[Payload], str]
    apply: Callable[[Session, Payload, str], dict[str, Any]]  # (session, payload, actor) -> result
    state: Callable[[Session, Payload], State] = _same  # the target now
    after: Callable[[Session, Payload, State], State] = _payload  # the target after; validates
    guard: Callable[[Session, State, State], Guard] = _guarded


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise InvalidInput(f"unknown kind of change {name!r}", code="unknown_kind") from None


def _rank(session: Session, tier: str | None) -> int:
    """A tier's place in the live policy; no tier (no cap) ranks above every tier."""
    tiers = current_document(session).tiers
    return len(tiers) if tier is None else tiers.index(tier) if tier in tiers else -1


# -- policy: document and Casbin model -------------------------------------------------------------
def _policy_state(session: Session, payload: Payload) -> State:
    row = current_policy(session)
    return {"version": row.version, "document": row.document, "model_conf": row.model_conf}


def _policy_after(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    document = parse_document(payload["document"])
    check_policy(session, document, payload["model_conf"])
    return {**base, "document": document.as_dict(), "model_conf": payload["model_conf"]}


def _policy_guard(session: Session, base: State, after: State) -> Guard:
    """Only blocking more models cannot widen access; every other policy change is guarded."""
    assert base is not None and after is not None
    before_doc, after_doc = base["document"], after["document"]
    blocks_only = (
        base["model_conf"] == after["model_conf"]
        and {**before_doc, "blocked_models": []} == {**after_doc, "blocked_models": []}
        and set(before_doc.get("blocked_models", [])) <= set(after_doc.get("blocked_models", []))
    )
    return Guard.NONE if blocks_only else Guard.GUARDED


def _policy_apply(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    version = save_policy(session, parse_document(payload["document"]), payload["model_conf"],
                          actor=actor, comment=payload.get("comment", ""))
    return {"policy_version": version}


register(Kind("policy.replace", lambda p: "policy", _policy_apply, _policy_state, _policy_after,
              _policy_guard))


# -- organisations ---------------------------------------------------------------------------------
def _org_state(session: Session, payload: Payload) -> State:
    if "org_id" in payload:
        info = organisations.get_org(session, payload["org_id"]).as_dict()
    else:
        row = session.execute(select(Organisation).where(Organisation.name == payload["name"])).scalar()
        if row is None:
            return None
        info = organisations.get_org(session, row.id).as_dict()
    del info["created_at"]
    return info


def _org_after(session: Session, payload: Payload, base: State) -> State:
    if "org_id" not in payload and base is not None:
        raise Conflict(f"an organisation named {payload['name']!r} already exists", code="org_exists")
    if payload.get("tier") is not None:
        organisations.check_tier(session, payload["tier"])
    changes = {k: v for k, v in payload.items() if k in ("name", "tier", "suspended") and v is not None}
    return {**(base or {}), **changes}


def _org_guard(session: Session, base: State, after: State) -> Guard:
    """Raising an organisation's tier, or making one above the lowest tier."""
    assert after is not None
    before_tier = base["tier"] if base is not None else current_document(session).tiers[0]
    raised = _rank(session, after["tier"]) > _rank(session, before_tier)
    return Guard.GUARDED if raised else Guard.NONE


def _org_apply(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    if "org_id" in payload:
        return organisations.update_org(session, payload["org_id"], actor=actor,
                                        name=payload.get("name"), tier=payload.get("tier"),
                                        suspended=payload.get("suspended")).as_dict()
    return organisations.create_org(session, actor=actor, name=payload["name"],
                                    tier=payload["tier"]).as_dict()


register(Kind("org.tier", lambda p: f"org:{p.get('org_id', p.get('name'))}", _org_apply,
              _org_state, _org_after, _org_guard))


# -- API keys --------------------------------------------------------------------------------------
def _key_state(session: Session, payload: Payload) -> State:
    info = keys.get_key(session, payload["prefix"])
    return {"prefix": info.prefix, "name": info.name, "tier_cap": info.tier_cap,
            "suspended": info.suspended, "status": info.status,
            "expires_at": info.expires_at.isoformat() if info.expires_at else None}


def _key_after(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    after = dict(base)
    if payload.get("clear_tier_cap"):
        after["tier_cap"] = None
    elif payload.get("tier_cap") is not None:
        after["tier_cap"] = organisations.check_tier(session, payload["tier_cap"])
    for field in ("name", "suspended", "expires_at"):
        if payload.get(field) is not None:
            after[field] = payload[field]
    return after


def _key_guard(session: Session, base: State, after: State) -> Guard:
    """Raising or lifting a key's tier cap (the rest of a key change rides along)."""
    assert base is not None and after is not None
    raised = _rank(session, after["tier_cap"]) > _rank(session, base["tier_cap"])
    return Guard.GUARDED if raised else Guard.NONE


def _key_apply(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    expires = payload.get("expires_at")
    return keys.update_key(
        session, payload["prefix"], actor=actor, name=payload.get("name"),
        tier_cap=payload.get("tier_cap"), clear_tier_cap=bool(payload.get("clear_tier_cap")),
        suspended=payload.get("suspended"),
        expires_at=datetime.fromisoformat(expires) if expires else None,
    ).as_dict()


register(Kind("key.cap", lambda p: f"key:{p['prefix']}", _key_apply, _key_state, _key_after,
              _key_guard))


def _expiry(payload: Payload) -> datetime | None:
    return datetime.fromisoformat(payload["expires_at"]) if payload.get("expires_at") else None


def _admin_key_state(session: Session, payload: Payload) -> State:
    user = session.get(User, payload["user_id"])
    if user is None:
        raise InvalidInput(f"no user with id {payload['user_id']}", code="user_not_found")
    return {"user": user.username, "roles": sorted(user.role_set), "active": user.active}


def _issue_admin_key(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    issued = keys.issue_key(session, actor=actor, user_id=payload["user_id"],
                            name=payload.get("name", ""), expires_at=_expiry(payload))
    return {"key": issued.secret, **issued.info.as_dict()}


def _issue_pep_key(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    issued = keys.issue_pep_key(session, actor=actor, name=payload["name"],
                                expires_at=_expiry(payload))
    return {"key": issued.secret, **issued.info.as_dict()}


register(Kind("key.admin", lambda p: f"user:{p['user_id']}", _issue_admin_key, _admin_key_state,
              lambda s, p, base: {**(base or {}), "new_admin_key": p.get("name", "")}))
register(Kind("key.pep", lambda p: f"pep:{p['name']}", _issue_pep_key,
              after=lambda s, p, base: {"new_enforcement_point_key": p["name"]}))


# -- trusted issuers and their role mappings ---------------------------------------------------------
def _governance_grants(config: State) -> set[tuple[str, ...]]:
    """Who an issuer lets into a governance role: (issuer, client, groups claim, group, role)."""
    if not config or not config.get("enabled", True) or not config.get("sso"):
        return set()
    sso = config["sso"]
    return {(config["issuer"], sso["client_id"], sso.get("groups_claim", "groups"), group, role)
            for group, roles in sso.get("roles", {}).items() for role in roles
            if role in GOVERNANCE_ROLES}


def _issuer_guard(session: Session, base: State, after: State) -> Guard:
    if _governance_grants(after) - _governance_grants(base):
        return Guard.GOVERNANCE
    disables_only = base is not None and after == {**base, "enabled": False}
    return Guard.NONE if disables_only else Guard.GUARDED


def _issuer_state(session: Session, payload: Payload) -> State:
    if payload.get("create"):
        found = [c for c in issuers.list_issuers(session) if c.name == payload["doc"].get("name")]
        return found[0].as_dict() if found else None
    return issuers.get_issuer(session, payload["name"]).as_dict()


def _issuer_after(session: Session, payload: Payload, base: State) -> State:
    if payload.get("create") and base is not None:
        raise Conflict("another issuer already has this name or issuer URL", code="issuer_exists")
    doc = payload["doc"] if payload.get("create") else {**payload["doc"], "name": payload["name"]}
    return parse_issuer(doc, current_document(session).tiers).as_dict()


def _issuer_apply(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    if payload.get("create"):
        config = issuers.create_issuer(session, payload["doc"], actor=actor)
    else:
        config = issuers.replace_issuer(session, payload["name"], payload["doc"], actor=actor)
    return {**config.as_dict(), "version": issuers.configuration_version(session)}


register(Kind("issuer.set",
              lambda p: f"issuer:{p['doc'].get('name') if p.get('create') else p['name']}",
              _issuer_apply, _issuer_state, _issuer_after, _issuer_guard))


def _all_issuers(session: Session, payload: Payload) -> State:
    return {"issuers": {c.name: c.as_dict() for c in issuers.list_issuers(session)}}


def _all_issuers_after(session: Session, payload: Payload, base: State) -> State:
    parsed = issuers.parse_issuer_list(session, payload["issuers"])
    return {"issuers": {c.name: c.as_dict() for c in parsed}}


def _all_issuers_guard(session: Session, base: State, after: State) -> Guard:
    assert base is not None and after is not None
    widened = any(_governance_grants(config) - _governance_grants(base["issuers"].get(name))
                  for name, config in after["issuers"].items())
    return Guard.GOVERNANCE if widened else Guard.GUARDED


def _import_issuers(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    return {"version": issuers.import_issuers(session, payload["issuers"], actor=actor)}


register(Kind("issuer.import", lambda p: issuers.ALL_ISSUERS, _import_issuers, _all_issuers,
              _all_issuers_after, _all_issuers_guard))


# -- accounts, roles and people --------------------------------------------------------------------
def _role_guard(session: Session, base: State, after: State) -> Guard:
    assert after is not None
    granted = set(after["roles"]) - set(base["roles"] if base else ())
    return Guard.GOVERNANCE if granted & GOVERNANCE_ROLES else Guard.GUARDED


def _new_account_state(session: Session, payload: Payload) -> State:
    user = find_user(session, payload["username"])
    return None if user is None else {"username": user.username, "roles": sorted(user.role_set)}


def _new_account_after(session: Session, payload: Payload, base: State) -> State:
    if base is not None:
        raise Conflict(f"user {payload['username']!r} already exists", code="user_exists")
    return {"username": payload["username"], "roles": sorted(payload["roles"])}


def _create_account(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    """A new local account holding its roles; its password is new and is shown once, to whoever
    applies the change."""
    password = new_password()
    user = create_user(session, actor=actor, username=payload["username"], password=password,
                       roles=frozenset(payload["roles"]))
    return {"user_id": user.id, "username": user.username, "roles": sorted(user.role_set),
            "password": password}


register(Kind("user.create", lambda p: f"user:{p['username']}", _create_account, _new_account_state,
              _new_account_after, _role_guard))


def _account_state(session: Session, payload: Payload) -> State:
    user = find_account(session, int(payload["user_id"]))
    return {"user_id": user.id, "username": user.username, "person_id": user.person_id,
            "roles": sorted(user.role_set)}


def _role_after(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    check_roles(frozenset({payload["role"]}))
    return {**base, "roles": sorted(set(base["roles"]) | {payload["role"]})}


def _grant_role(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    user = grant_role(session, actor=actor, user_id=int(payload["user_id"]), role=payload["role"])
    return {"user_id": user.id, "username": user.username, "roles": sorted(user.role_set)}


register(Kind("role.grant", lambda p: f"user:{p['user_id']}", _grant_role, _account_state, _role_after,
              _role_guard))


def _role_removed(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    check_roles(frozenset({payload["role"]}))
    return {**base, "roles": sorted(set(base["roles"]) - {payload["role"]})}


def _removal_guard(session: Session, base: State, after: State) -> Guard:
    """Taking a role narrows access, except taking the admin role from the last admin but one: that
    would leave a single admin free to act alone, so it needs the second person (or the host)."""
    assert base is not None and after is not None
    account = find_account(session, base["user_id"])
    return Guard.GUARDED if leaves_a_single_admin(session, account, frozenset(after["roles"])) else Guard.NONE


def _remove_role(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    user = remove_role(session, actor=actor, user_id=int(payload["user_id"]), role=payload["role"])
    return {"user_id": user.id, "username": user.username, "roles": sorted(user.role_set)}


register(Kind("role.remove", lambda p: f"user:{p['user_id']}", _remove_role, _account_state, _role_removed,
              _removal_guard))


def _link_after(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    find_person(session, int(payload["person_id"]))
    return {**base, "person_id": int(payload["person_id"])}


def _link(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    """Moving an account between people changes who counts as whom in every duty check: always
    guarded, though it never adds a role."""
    user = link_account(session, actor=actor, user_id=int(payload["user_id"]),
                        person_id=int(payload["person_id"]))
    return {"user_id": user.id, "username": user.username, "person_id": user.person_id}


register(Kind("account.link", lambda p: f"user:{p['user_id']}", _link, _account_state, _link_after))


# -- access requests -------------------------------------------------------------------------------
def _request_state(session: Session, payload: Payload) -> State:
    return grants.request_state(grants.find_request(session, int(payload["request_id"])))


def _request_after(session: Session, payload: Payload, base: State) -> State:
    assert base is not None
    grants.open_request(session, int(payload["request_id"]))
    organisations.check_tier(session, base["tier"])  # the tier may have left the policy since
    return {**base, "state": "granted"}


def _grant_request(session: Session, payload: Payload, actor: str) -> dict[str, Any]:
    return grants.grant_request(session, int(payload["request_id"]), actor=actor,
                                reason=payload.get("reason", ""))


# A grant always widens access: requests for what the holder already has are refused when made.
register(Kind("access_request.grant", lambda p: f"access_request:{p['request_id']}", _grant_request,
              _request_state, _request_after))
