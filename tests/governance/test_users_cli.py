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
