"""Single sign-on accounts take their roles from the provider's groups at every sign-in: after
removal from a group, the next sign-in drops the role, and removal from every mapped group
refuses the sign-in and takes the account's roles away (its open sessions lose them at once)."""

from __future__ import annotations

import time

import pytest
from flask import g
from sqlalchemy import select

from govern.api.auth import ISSUED_AT, SEEN_AT
from govern.errors import Forbidden
from govern.identity.issuer_config import SsoConfig
from govern.identity.sso_accounts import sign_in_identity
from govern.models import AuditEvent, User

ISSUER = "https://idp.example.org"
SSO = SsoConfig(client_id="govern", client_secret_env="GOVERN_SSO_SECRET", groups_claim="groups",
                roles=(("govern-admins", ("admin",)), ("govern-auditors", ("auditor",))),
                scopes="openid email groups")


def sign_in_with_groups(session, *groups: str) -> User:  # type: ignore[no-untyped-def]
    return sign_in_identity(session, issuer=ISSUER, subject="ada-1", username="ada@example.org",
                            roles=SSO.roles_for(list(groups)), email="ada@example.org")


def test_a_new_sign_in_after_removal_from_a_group_drops_its_role(session):  # type: ignore[no-untyped-def]
    assert sign_in_with_groups(session, "govern-admins", "govern-auditors").role_set == {"admin", "auditor"}
    user = sign_in_with_groups(session, "govern-auditors")
    assert user.role_set == {"auditor"}
    changes = session.execute(select(AuditEvent).where(AuditEvent.action == "user.roles")).scalars().all()
    assert [(c.before, c.after) for c in changes] == [
        ({"roles": ["admin", "auditor"]}, {"roles": ["auditor"]})]


def test_removal_from_every_group_refuses_the_sign_in_and_ends_the_roles(app, session):  # type: ignore[no-untyped-def]
    # Each request reads its user afresh, as on a server (the test holds one app context).
    app.teardown_request(lambda _error: g.pop("_login_user", None))
    user = sign_in_with_groups(session, "govern-admins")
    # The account's session, still open in another browser from its earlier sign-in.
    browser = app.test_client()
    with browser.session_transaction() as stored:
        stored.update({"_user_id": f"{user.id}:{user.session_epoch}", "_fresh": True,
                       ISSUED_AT: time.time(), SEEN_AT: time.time()})
    assert browser.get("/v1/admin/users").status_code == 200

    with pytest.raises(Forbidden, match="grants you no govern role"):
        sign_in_with_groups(session, "staff")
    session.expire_all()
    assert session.get_one(User, user.id).role_set == frozenset()
    assert browser.get("/v1/admin/users").status_code == 403
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "user.roles")).scalar_one()
    assert (event.before, event.after) == ({"roles": ["admin"]}, {"roles": []})
