"""People, not accounts: the duty checks compare people, accounts are linked to a person by an
admin or by an issuer authoritative for a verified e-mail's domain, and no issuer takes over an
existing person by asserting their e-mail."""

from __future__ import annotations

import pytest
from factories import make_governed_model, ready_sign_off
from sqlalchemy import select

from govern.errors import Conflict, Forbidden, InvalidInput
from govern.governance.holds import release_hold
from govern.governance.reviews import quorum, record_review
from govern.governance.signoffs import reverse_sign_off
from govern.identity.issuer_config import parse_issuer
from govern.identity.people import (
    get_person,
    link_account,
    person_of,
    same_person,
    set_person_active,
    update_person,
)
from govern.identity.sso_accounts import sign_in_identity
from govern.identity.users import authenticate_user, create_user, grant_role, remove_role, reset_password
from govern.models import AuditEvent, User

PASSWORD = "a-long-password-123"
CORP = "https://login.corp.example"
ROGUE = "https://idp.rogue.example"


def local(session, username: str, *roles: str) -> User:  # type: ignore[no-untyped-def]
    return create_user(session, actor="cli:root", username=username, password=PASSWORD,
                       roles=frozenset(roles))


def sso(session, subject: str, *roles: str, issuer: str = ROGUE, email: str | None = None,  # type: ignore[no-untyped-def]
        verified: object = True, authoritative: tuple[str, ...] = ()) -> User:
    return sign_in_identity(session, issuer=issuer, subject=subject, username=subject,
                            roles=frozenset(roles), email=email, email_verified=verified,
                            authoritative_domains=authoritative)


def recommend(session, model, reviewer: str) -> None:  # type: ignore[no-untyped-def]
    record_review(session, actor=reviewer, model=model, recommendation="open", tier="verified",
                  rationale="mitigations hold")


def events(session, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    return list(session.execute(select(AuditEvent).where(AuditEvent.action == action)
                                .order_by(AuditEvent.id)).scalars())


def test_every_account_gets_its_own_person_until_linked(session):  # type: ignore[no-untyped-def]
    rita, other = local(session, "rita", "reviewer"), sso(session, "rita-at-idp", "reviewer")
    assert rita.person_id != other.person_id
    assert not same_person(session, "user:rita", "user:rita-at-idp")
    assert get_person(session, rita.person_id).display_name == "rita"


def test_a_local_and_an_sso_account_of_one_person_are_one_person_to_every_duty_check(session):  # type: ignore[no-untyped-def]
    rita = local(session, "rita", "reviewer")
    idp = sso(session, "rita-at-idp", "reviewer", "approver")
    link_account(session, actor="user:admin", user_id=idp.id, person_id=rita.person_id)
    assert person_of(session, "user:rita-at-idp") == rita.person_id

    model = make_governed_model(session, post="medium", rater="user:rita")
    with pytest.raises(Forbidden, match="you rated this model's scorecard"):
        recommend(session, model, "user:rita-at-idp")

    reviewed = make_governed_model(session, "reviewed", post="medium", rater="user:someone")
    recommend(session, reviewed, "user:rita")
    recommend(session, reviewed, "user:rita-at-idp")
    assert quorum(session, reviewed).supporters == 1  # one person reviewing twice is one reviewer
    recommend(session, reviewed, "user:rev2")
    with pytest.raises(Forbidden, match="you reviewed this model"):
        ready_sign_off(session, actor="user:rita-at-idp", model=reviewed, tier="verified")
    with pytest.raises(Forbidden, match="you rated this model"):
        ready_sign_off(session, actor="user:rita-at-idp", model=model, tier="verified")
    assert ready_sign_off(session, actor="user:boss", model=reviewed, tier="verified").tier == "verified"


def test_linking_never_adds_a_role_and_is_audited(session):  # type: ignore[no-untyped-def]
    admin = local(session, "ada", "admin")
    idp = sso(session, "ada-at-idp", "auditor")
    link_account(session, actor="user:other-admin", user_id=idp.id, person_id=admin.person_id)
    session.expire_all()
    assert session.get(User, idp.id).role_set == {"auditor"}  # type: ignore[union-attr]
    assert session.get(User, admin.id).role_set == {"admin"}  # type: ignore[union-attr]
    linked = events(session, "user.link")[-1]
    assert (linked.actor, linked.target) == ("user:other-admin", f"user:{idp.id}")
    assert linked.after == {"person_id": admin.person_id, "roles": ["auditor"]}


def test_a_non_authoritative_issuer_cannot_take_over_a_person_by_their_email(session):  # type: ignore[no-untyped-def]
    bob = local(session, "bob", "approver")
    update_person(session, actor="user:admin", person_id=bob.person_id, email="bob@example.org")

    impostor = sso(session, "mallory", "reviewer", email="bob@example.org", verified=True)

    assert impostor.person_id != bob.person_id
    assert get_person(session, impostor.person_id).email is None  # an asserted address is not kept
    assert not same_person(session, "user:mallory", "user:bob")
    # And the address cannot be given to the new person to line it up for a later link.
    with pytest.raises(Conflict, match="already has the e-mail"):
        update_person(session, actor="user:admin", person_id=impostor.person_id, email="BOB@example.org")


@pytest.mark.parametrize(("email", "verified"), [
    ("bob@example.org", False),             # not verified
    ("bob@example.org", "true"),            # a string is not `true`
    ("bob@example.org.evil.example", True),  # not the domain
    ("bob@sub.example.org", True),          # a subdomain is another domain
])
def test_an_authoritative_issuer_links_only_a_verified_email_in_its_domain(session, email, verified):  # type: ignore[no-untyped-def]
    bob = local(session, "bob", "approver")
    update_person(session, actor="user:admin", person_id=bob.person_id, email="bob@example.org")

    account = sso(session, "bob-corp", "auditor", issuer=CORP, email=email, verified=verified,
                  authoritative=("example.org",))

    assert account.person_id != bob.person_id


def test_an_authoritative_issuer_links_by_verified_email_and_adds_no_role(session):  # type: ignore[no-untyped-def]
    bob = local(session, "bob", "approver", "admin")
    update_person(session, actor="user:admin", person_id=bob.person_id, email="bob@example.org")

    account = sso(session, "bob-corp", "auditor", issuer=CORP, email="Bob@Example.ORG", verified=True,
                  authoritative=("example.org",))

    assert account.person_id == bob.person_id
    assert account.role_set == {"auditor"}
    assert same_person(session, "user:bob-corp", "user:bob")
    link = events(session, "user.link")[-1]
    assert link.after == {"person_id": bob.person_id, "roles": ["auditor"], "via": "authoritative_issuer",
                          "email": "bob@example.org"}
    # Another issuer, authoritative elsewhere, asserting the same address gets a person of its own.
    other = sso(session, "bob-elsewhere", "auditor", issuer=ROGUE, email="bob@example.org",
                authoritative=("rogue.example",))
    assert other.person_id != bob.person_id


def test_an_authoritative_issuer_gives_a_new_person_the_vouched_email(session):  # type: ignore[no-untyped-def]
    first = sso(session, "carol", "reviewer", issuer=CORP, email="carol@example.org",
                authoritative=("example.org",))
    assert get_person(session, first.person_id).email == "carol@example.org"
    second = sso(session, "carol-2", "reviewer", issuer=CORP, email="carol@example.org",
                 authoritative=("example.org",))
    assert second.person_id == first.person_id


def test_a_disabled_person_cannot_sign_in_with_any_account_old_or_new(session):  # type: ignore[no-untyped-def]
    local(session, "root", "admin")
    bob = local(session, "bob", "approver")
    update_person(session, actor="user:admin", person_id=bob.person_id, email="bob@example.org")
    idp = sso(session, "bob-rogue", "approver")
    link_account(session, actor="user:admin", user_id=idp.id, person_id=bob.person_id)

    set_person_active(session, actor="user:root", person_id=bob.person_id, active=False)

    assert authenticate_user(session, "bob", PASSWORD) is None
    with pytest.raises(Forbidden, match="deactivated"):
        sso(session, "bob-rogue", "approver")
    with pytest.raises(Forbidden, match="deactivated"):  # a new identity joining the person, too
        sso(session, "bob-new", "approver", issuer=CORP, email="bob@example.org",
            authoritative=("example.org",))
    assert session.execute(select(User).where(User.username == "bob-new")).scalar() is None
    # Moving an account away from the disabled person would bring it back: refused.
    fresh = local(session, "fresh", "auditor")
    with pytest.raises(Conflict, match="re-enable them"):
        link_account(session, actor="user:root", user_id=idp.id, person_id=fresh.person_id)

    set_person_active(session, actor="user:root", person_id=bob.person_id, active=True)
    assert authenticate_user(session, "bob", PASSWORD) is not None
    assert [e.action for e in events(session, "person.disable") + events(session, "person.enable")] == [
        "person.disable", "person.enable"]


def test_role_grants_and_removals_are_audited_with_the_sorted_roles(session):  # type: ignore[no-untyped-def]
    rita = local(session, "rita", "reviewer")
    grant_role(session, actor="user:admin", user_id=rita.id, role="board")
    remove_role(session, actor="user:admin", user_id=rita.id, role="reviewer")

    changes = [(e.target, e.before, e.after) for e in events(session, "user.roles")]
    assert changes == [
        (f"user:{rita.id}", {"roles": ["reviewer"]}, {"roles": ["board", "reviewer"]}),
        (f"user:{rita.id}", {"roles": ["board", "reviewer"]}, {"roles": ["board"]}),
    ]
    with pytest.raises(InvalidInput, match="unknown role wizard"):
        grant_role(session, actor="user:admin", user_id=rita.id, role="wizard")


def test_the_last_admin_keeps_the_role_and_cannot_be_disabled(session):  # type: ignore[no-untyped-def]
    only = local(session, "only-admin", "admin")
    with pytest.raises(Conflict, match="last active admin"):
        remove_role(session, actor="user:only-admin", user_id=only.id, role="admin")
    with pytest.raises(Conflict, match="last active admin"):
        set_person_active(session, actor="user:only-admin", person_id=only.person_id, active=False)


def test_sso_accounts_take_roles_only_from_their_issuer(session):  # type: ignore[no-untyped-def]
    idp = sso(session, "ivan", "auditor")
    with pytest.raises(Conflict, match="role mapping"):
        grant_role(session, actor="user:admin", user_id=idp.id, role="admin")
    with pytest.raises(Conflict, match="no password"):
        reset_password(session, actor="user:admin", user_id=idp.id)


def test_a_password_reset_replaces_the_password_and_ends_sessions(session):  # type: ignore[no-untyped-def]
    rita = local(session, "rita", "reviewer")
    epoch = rita.session_epoch
    new = reset_password(session, actor="user:admin", user_id=rita.id)
    assert authenticate_user(session, "rita", PASSWORD) is None
    assert authenticate_user(session, "rita", new) is not None
    assert rita.session_epoch == epoch + 1
    assert events(session, "user.reset_password")[-1].target == f"user:{rita.id}"
    assert new not in str([(e.before, e.after) for e in events(session, "user.reset_password")])


@pytest.mark.production_password_hash
def test_a_local_account_stores_its_password_as_scrypt_with_n_2_15(session):  # type: ignore[no-untyped-def]
    rita = local(session, "rita", "reviewer")
    assert rita.password_hash.startswith("scrypt:32768:8:1$")
    assert PASSWORD not in rita.password_hash


def test_authoritative_domains_are_checked_and_kept_in_lower_case():
    doc = {"name": "corp", "issuer": CORP, "audiences": ["govern"], "default_tier": "free",
           "sso": {"client_id": "govern", "client_secret_env": "GOVERN_SSO_CORP_SECRET"}}
    for wrong in (["not a domain"], "example.org", ["org"], [3]):
        with pytest.raises(InvalidInput, match="authoritative_domains") as caught:
            parse_issuer({**doc, "sso": {**doc["sso"], "authoritative_domains": wrong}}, None)
        assert caught.value.code == "invalid_domain"
    domains = ["Example.ORG", "@example.org"]
    parsed = parse_issuer({**doc, "sso": {**doc["sso"], "authoritative_domains": domains}}, None)
    assert parsed.sso is not None and parsed.sso.authoritative_domains == ("example.org",)
    assert parse_issuer(doc, None).sso.authoritative_domains == ()  # type: ignore[union-attr]


def test_the_board_member_who_released_a_hold_cannot_sign_off_with_another_account(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, "held", post="medium", rater="user:someone")
    recommend(session, model, "user:rev1")
    recommend(session, model, "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="missed it")
    bea = local(session, "bea", "board")
    approver = sso(session, "bea-at-idp", "approver")
    link_account(session, actor="user:admin", user_id=approver.id, person_id=bea.person_id)
    release_hold(session, actor="user:bea", model=model, rationale="fresh reviews coming")
    recommend(session, model, "user:rev3")
    recommend(session, model, "user:rev4")

    with pytest.raises(Forbidden, match="you released the hold"):
        ready_sign_off(session, actor="user:bea-at-idp", model=model, tier="verified")
    assert ready_sign_off(session, actor="user:boss", model=model, tier="verified").tier == "verified"
