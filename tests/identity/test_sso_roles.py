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
from govern.identity.users import create_user
from govern.models import AuditEvent, User

ISSUER = "https://idp.example.org"
SSO = SsoConfig(client_id="govern", client_secret_env="GOVERN_SSO_SECRET", groups_claim="groups",
                roles=(("govern-admins", ("admin",)), ("govern-auditors", ("auditor",))),
                scopes="openid email groups")


def sign_in_with_groups(session, *groups: str) -> User:  # type: ignore[no-untyped-def]
    return sign_in_identity(session, issuer=ISSUER, subject="ada-1", username="ada@example.org",
                            roles=SSO.roles_for(list(groups)), email="ada@example.org")


def local_admins(session, *names: str) -> None:  # type: ignore[no-untyped-def]
    for name in names:
        create_user(session, actor="test", username=name, password="a-long-password-123",
                    roles=frozenset({"admin"}))


def test_a_new_sign_in_after_removal_from_a_group_drops_its_role(session):  # type: ignore[no-untyped-def]
    local_admins(session, "ann", "ben")
    assert sign_in_with_groups(session, "govern-admins", "govern-auditors").role_set == {"admin", "auditor"}
    user = sign_in_with_groups(session, "govern-auditors")
    assert user.role_set == {"auditor"}
    changes = session.execute(select(AuditEvent).where(AuditEvent.action == "user.roles")).scalars().all()
    assert [(c.before, c.after) for c in changes] == [
        ({"roles": ["admin", "auditor"]}, {"roles": ["auditor"]})]


def test_removal_from_every_group_refuses_the_sign_in_and_ends_the_roles(app, session):  # type: ignore[no-untyped-def]
    # Each request reads its user afresh, as on a server (the test holds one app context).
    app.teardown_request(lambda _error: g.pop("_login_user", None))
    local_admins(session, "ann", "ben")
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


@pytest.mark.parametrize("groups", [("govern-auditors",), ("staff",)],
                         ids=["admin-group-left", "every-group-left"])
def test_the_provider_cannot_take_the_admin_role_from_one_of_the_last_two_admins(session, groups):  # type: ignore[no-untyped-def]
    """Else whoever runs the provider's groups could leave one admin who then acts alone."""
    local_admins(session, "ann")
    ada = sign_in_with_groups(session, "govern-admins", "govern-auditors")

    with pytest.raises(Forbidden, match="one of the last two admins") as refused:
        sign_in_with_groups(session, *groups)

    assert refused.value.code == "last_admins_role"
    session.expire_all()
    assert session.get_one(User, ada.id).role_set == {"admin", "auditor"}
    kept = session.execute(select(AuditEvent).where(AuditEvent.action == "sso.admin_kept")).scalar_one()
    assert kept.after == {"roles": sorted(SSO.roles_for(list(groups)))}


def test_the_last_admin_cannot_lose_the_role_through_the_provider(session):  # type: ignore[no-untyped-def]
    ada = sign_in_with_groups(session, "govern-admins")

    with pytest.raises(Forbidden, match="one of the last two admins"):
        sign_in_with_groups(session, "govern-auditors")
    session.expire_all()
    assert session.get_one(User, ada.id).role_set == {"admin"}


def test_with_a_third_admin_the_provider_takes_the_role_again(session):  # type: ignore[no-untyped-def]
    local_admins(session, "ann")
    sign_in_with_groups(session, "govern-admins")
    local_admins(session, "ben")

    assert sign_in_with_groups(session, "govern-auditors").role_set == {"auditor"}
