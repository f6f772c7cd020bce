"""Admin API for people and their accounts: list, link, grant and remove roles, disable and
re-enable, reset a local password."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, g, jsonify

from govern.api.admin_body import json_body
from govern.api.admin_proposals import propose
from govern.api.auth import require_role
from govern.api.body import field
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.identity import people, throttle, users
from govern.models import User

bp = Blueprint("admin_users", __name__, url_prefix="/v1/admin")

# Ids past a 32-bit integer column are nobody (404), not a database error.
USER_ID = "<int(max=2147483647):user_id>"
PERSON_ID = "<int(max=2147483647):person_id>"


def _account(user: User) -> Response:
    return jsonify({"id": user.id, "username": user.username, "person_id": user.person_id,
                    "roles": sorted(user.role_set), "active": user.active})


def _person(person_id: int) -> Response:
    return jsonify(people.get_person(current_session(), person_id).as_dict())


@bp.get("/users")
@require_role("admin", "auditor")
def list_people() -> Response:
    return jsonify({"people": [p.as_dict() for p in people.list_people(current_session())]})


@bp.get(f"/users/people/{PERSON_ID}")
@require_role("admin", "auditor")
def show_person(person_id: int) -> Response:
    return _person(person_id)


def _applied(result: dict[str, Any]) -> Response:
    return _account(people.find_account(current_session(), int(result["user_id"])))


@bp.post(f"/users/{USER_ID}/roles")
@require_role("admin")
def grant_role(user_id: int) -> Response:
    """A guarded change: 202 and a proposal while a second admin is needed."""
    role = field(json_body(), "role", str, max_length=40)
    return propose(Change("role.grant", {"user_id": user_id, "role": role}), _applied)


@bp.delete(f"/users/{USER_ID}/roles/<role>")
@require_role("admin")
def remove_role(user_id: int, role: str) -> Response:
    """Applies at once, unless it would leave a single admin (then a proposal, 202)."""
    return propose(Change("role.remove", {"user_id": user_id, "role": role}), _applied)


@bp.put(f"/users/{USER_ID}/person")
@require_role("admin")
def link_account(user_id: int) -> Response:
    """A guarded change: 202 and a proposal while a second admin is needed."""
    person_id = field(json_body(), "person_id", int)
    return propose(Change("account.link", {"user_id": user_id, "person_id": person_id}), _applied)


@bp.post(f"/users/{USER_ID}/password")
@require_role("admin")
def reset_password(user_id: int) -> Response:
    password = users.reset_password(current_session(), actor=g.actor, user_id=user_id)
    return jsonify({"id": user_id, "password": password,
                    "note": "give the password to its owner now: it is shown only once"})


@bp.post(f"/users/{USER_ID}/unlock")
@require_role("admin")
def unlock_sign_in(user_id: int) -> Response:
    db_session = current_session()
    user = people.find_account(db_session, user_id)
    cleared = throttle.unlock(db_session, actor=g.actor, user=user)
    return jsonify({"id": user.id, "username": user.username, "failures_cleared": cleared})


@bp.patch(f"/users/people/{PERSON_ID}")
@require_role("admin")
def update_person(person_id: int) -> Response:
    body = json_body()
    people.update_person(current_session(), actor=g.actor, person_id=person_id,
                         display_name=field(body, "display_name", str, required=False, max_length=200),
                         email=field(body, "email", str, required=False, max_length=320),
                         clear_email="email" in body and body["email"] is None)
    return _person(person_id)


@bp.post(f"/users/people/{PERSON_ID}/disable")
@require_role("admin")
def disable_person(person_id: int) -> Response:
    people.set_person_active(current_session(), actor=g.actor, person_id=person_id, active=False)
    return _person(person_id)


@bp.post(f"/users/people/{PERSON_ID}/enable")
@require_role("admin")
def enable_person(person_id: int) -> Response:
    people.set_person_active(current_session(), actor=g.actor, person_id=person_id, active=True)
    return _person(person_id)
