"""`govern users create`: a user of the admin UI with the given roles and a password printed once."""

from __future__ import annotations

import re

from govern.identity.users import authenticate_user, find_user


def test_users_create_prints_a_password_that_signs_in(govern, session):  # type: ignore[no-untyped-def]
    result = govern("users", "create", "rita", "--role", "reviewer", "--role", "auditor")
    assert result.exit_code == 0, result.output
    match = re.fullmatch(r"user rita \(auditor, reviewer\); password \(shown only now\): (\S+)\n",
                         result.output)
    assert match is not None, result.output
    session.expire_all()
    user = authenticate_user(session, "rita", match.group(1))
    assert user is not None and user.role_set == {"reviewer", "auditor"}


def test_users_create_refuses_an_unknown_role_and_a_taken_name(govern, session):  # type: ignore[no-untyped-def]
    assert govern("users", "create", "x", "--role", "wizard").exit_code == 2
    assert govern("users", "create", "rita", "--role", "board").exit_code == 0
    again = govern("users", "create", "rita", "--role", "board")
    assert again.exit_code == 1
    assert "user 'rita' already exists" in again.output
    assert find_user(session, "x") is None


def test_users_list_shows_each_person_with_their_accounts(govern, session):  # type: ignore[no-untyped-def]
    assert govern("users", "create", "rita", "--role", "reviewer").exit_code == 0
    assert govern("users", "create", "rob", "--role", "approver", "--role", "board").exit_code == 0
    assert govern("users", "link", "rob", "--to", "rita").exit_code == 0

    listed = govern("users", "list")

    assert listed.exit_code == 0, listed.output
    rita = find_user(session, "rita")
    assert rita is not None
    expected = rf"person {rita.person_id}: rita <->\n  rita +local +reviewer\n  rob +local +approver,board\n"
    assert re.search(expected, listed.output), listed.output


def test_users_grant_and_remove_role_change_the_account(govern, session):  # type: ignore[no-untyped-def]
    govern("users", "create", "rita", "--role", "reviewer")
    granted = govern("users", "grant", "rita", "board")
    assert (granted.exit_code, granted.output) == (0, "user rita: board, reviewer\n")
    removed = govern("users", "remove-role", "rita", "reviewer")
    assert (removed.exit_code, removed.output) == (0, "user rita: board\n")
    session.expire_all()
    assert find_user(session, "rita").role_set == {"board"}  # type: ignore[union-attr]


def test_users_disable_stops_sign_in_and_enable_brings_it_back(govern, session):  # type: ignore[no-untyped-def]
    password = re.search(r": (\S+)\n$", govern("users", "create", "rita", "--role", "reviewer").output)
    assert password is not None
    disabled = govern("users", "disable", "rita")
    assert disabled.exit_code == 0
    assert "disabled: every account, session and key stopped" in disabled.output
    session.expire_all()
    assert authenticate_user(session, "rita", password.group(1)) is None
    assert govern("users", "enable", "rita").exit_code == 0
    session.expire_all()
    assert authenticate_user(session, "rita", password.group(1)) is not None


def test_users_reset_password_prints_a_new_password_once(govern, session):  # type: ignore[no-untyped-def]
    old = re.search(r": (\S+)\n$", govern("users", "create", "rita", "--role", "reviewer").output)
    reset = govern("users", "reset-password", "rita")
    new = re.fullmatch(r"user rita: new password \(shown only now\): (\S+)\n", reset.output)
    assert old is not None and new is not None, reset.output
    session.expire_all()
    assert authenticate_user(session, "rita", old.group(1)) is None
    assert authenticate_user(session, "rita", new.group(1)) is not None


def test_users_commands_refuse_unknown_accounts_and_bad_input_in_one_line(govern):  # type: ignore[no-untyped-def]
    for args, message in [
        (("users", "grant", "nobody", "board"), "no account named 'nobody'"),
        (("users", "disable", "nobody"), "no account named 'nobody'"),
        (("users", "link", "nobody", "--to", "nobody-else"), "no account named 'nobody-else'"),
        (("users", "update-person", "nobody", "--email", "x@example.org"), "no account named 'nobody'"),
    ]:
        result = govern(*args)
        assert result.exit_code == 1
        assert result.output == f"Error: {message}\n"
    govern("users", "create", "rita", "--role", "admin")
    assert govern("users", "grant", "rita", "wizard").exit_code == 2
    bad = govern("users", "update-person", "rita", "--email", "not an address")
    assert (bad.exit_code, bad.output) == (1, "Error: 'not an address' is not an e-mail address\n")
    last = govern("users", "disable", "rita")
    assert last.exit_code == 1 and "last active admin" in last.output
