"""`govern users`: people and their accounts of the admin UI.

Layer: web.
"""

from __future__ import annotations

import click

from govern.cli.context import actor, app_context, break_glass, session

ROLE_CHOICE = click.Choice(["admin", "reviewer", "approver", "board", "auditor"])


@click.group()
def users() -> None:
    """People and their accounts of the admin UI (admins, reviewers, approvers, board, auditors)."""


@users.command("create")
@click.argument("username")
@click.option("--role", "roles", multiple=True, required=True, type=ROLE_CHOICE,
              help="A role; repeat for several.")
def users_create(username: str, roles: tuple[str, ...]) -> None:
    """Create a user with a new password, printed once (a role grant by the host operator)."""
    from govern.governance.proposal_kinds import Change

    with app_context():
        made = break_glass(Change("user.create", {"username": username, "roles": sorted(set(roles))}))
    click.echo(f"user {username} ({', '.join(made['roles'])}); password (shown only now): "
               f"{made['password']}")


@users.command("list")
def users_list() -> None:
    """Every person, and under each their accounts with kind, roles and state."""
    from govern.identity.people import list_people

    with app_context():
        for person in list_people(session()):
            state = "" if person.active else "  DISABLED"
            click.echo(f"person {person.id}: {person.display_name} <{person.email or '-'}>{state}")
            for account in person.accounts:
                kind = f"sso {account.issuer}" if account.issuer else "local"
                flag = "" if account.active else "  inactive"
                click.echo(f"  {account.username:<24} {kind:<32} {','.join(account.roles) or '-'}{flag}")


@users.command("grant")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
def users_grant(username: str, role: str) -> None:
    """Give USERNAME's local account ROLE (a role grant by the host operator)."""
    _change_role("role.grant", username, role)


def _change_role(kind: str, username: str, role: str) -> None:
    from govern.governance.proposal_kinds import Change
    from govern.identity.people import account_named

    with app_context():
        made = break_glass(Change(kind, {"user_id": account_named(session(), username).id, "role": role}))
        click.echo(f"user {username}: {', '.join(made['roles']) or 'no roles'}")


@users.command("unlock")
@click.argument("username")
def users_unlock(username: str) -> None:
    """Lift USERNAME's sign-in lock after failed attempts (audited)."""
    from govern.identity.people import account_named
    from govern.identity.throttle import unlock

    with app_context():
        cleared = unlock(session(), actor=actor(), user=account_named(session(), username))
    click.echo(f"user {username}: sign-in unlocked ({cleared} failed attempts forgotten)")


@users.command("remove-role")
@click.argument("username")
@click.argument("role", type=ROLE_CHOICE)
def users_remove_role(username: str, role: str) -> None:
    """Take ROLE from USERNAME's local account."""
    _change_role("role.remove", username, role)


@users.command("link")
@click.argument("username")
@click.option("--to", "other", required=True, help="An account of the person USERNAME belongs to.")
def users_link(username: str, other: str) -> None:
    """Make USERNAME's account one of the person of account --to (no role is added)."""
    from govern.governance.proposal_kinds import Change
    from govern.identity.people import account_named

    with app_context():
        target = account_named(session(), other).person_id
        break_glass(Change("account.link", {"user_id": account_named(session(), username).id,
                                            "person_id": target}))
    click.echo(f"user {username} now belongs to person {target} (with {other})")


@users.command("update-person")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="The person's display name.")
@click.option("--email", default=None, help="The person's e-mail ('' clears it).")
def users_update_person(username: str, display_name: str | None, email: str | None) -> None:
    """Change the display name or e-mail of the person USERNAME belongs to."""
    from govern.identity.people import account_named, update_person

    with app_context():
        person_id = account_named(session(), username).person_id
        person = update_person(session(), actor=actor(), person_id=person_id, display_name=display_name,
                               email=email or None, clear_email=email == "")
        click.echo(f"person {person.id}: {person.display_name} <{person.email or '-'}>")


def _set_active(username: str, active: bool) -> None:
    from govern.identity.people import account_named, set_person_active

    with app_context():
        person = set_person_active(session(), actor=actor(), active=active,
                                   person_id=account_named(session(), username).person_id)
        click.echo(f"person {person.id} ({person.display_name}) "
                   f"{'enabled' if active else 'disabled: every account, session and key stopped'}")


@users.command("disable")
@click.argument("username")
def users_disable(username: str) -> None:
    """Disable the person USERNAME belongs to: all their accounts, sessions and keys stop."""
    _set_active(username, False)


@users.command("enable")
@click.argument("username")
def users_enable(username: str) -> None:
    """Re-enable the person USERNAME belongs to."""
    _set_active(username, True)


@users.command("reset-password")
@click.argument("username")
def users_reset_password(username: str) -> None:
    """A new password for USERNAME's local account, printed once; its sessions end."""
    from govern.identity.people import account_named
    from govern.identity.users import reset_password

    with app_context():
        password = reset_password(session(), actor=actor(), user_id=account_named(session(), username).id)
    click.echo(f"user {username}: new password (shown only now): {password}")
