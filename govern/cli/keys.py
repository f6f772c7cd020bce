"""`govern keys`: client and enforcement-point keys.

Layer: web.
"""

from __future__ import annotations

from datetime import datetime

import click

from govern.cli.context import actor, app_context, break_glass, duration, session
from govern.errors import InvalidInput
from govern.models.base import utcnow


@click.group()
def keys() -> None:
    """API keys: shown once when made, stored only as a digest."""


@keys.command("create")
@click.option("--org", "org", default=None, help="Organisation name (client keys).")
@click.option("--pep", is_flag=True,
              help="A key for a policy enforcement point (gateway) asking AuthZEN questions.")
@click.option("--name", default="", help="A label for the key (required with --pep).")
@click.option("--tier-cap", default=None, help="Cap the key below its organisation's tier.")
@click.option("--expires-in", default=None, help="Lifetime, e.g. 30d or 12h.")
def keys_create(org: str | None, pep: bool, name: str, tier_cap: str | None,
                expires_in: str | None) -> None:
    from govern.governance.proposal_kinds import Change
    from govern.identity.keys import issue_key

    if pep == (org is not None) or (pep and tier_cap is not None):
        raise InvalidInput("give --org for a client key, or --pep (without --org or --tier-cap) "
                           "for an enforcement-point key", code="invalid_owner")
    with app_context():
        expires = utcnow() + duration(expires_in) if expires_in else None
        if pep:
            made = break_glass(Change("key.pep", {
                "name": name, "expires_at": expires.isoformat() if expires else None}))
            secret, prefix = made["key"], made["prefix"]
        else:
            issued = issue_key(session(), actor=actor(), org=org, name=name, tier_cap=tier_cap,
                               expires_at=expires)
            secret, prefix = issued.secret, issued.info.prefix
    click.echo(secret)
    owner = f"enforcement point {name}" if pep else org
    click.echo(f"(key {prefix} for {owner}; shown only now)", err=True)


@keys.command("list")
@click.option("--org", default=None, help="Only this organisation's keys.")
def keys_list(org: str | None) -> None:
    from govern.identity.keys import list_keys

    with app_context():
        for key in list_keys(session(), org):
            owner = key.organisation or (f"user {key.user}" if key.user else "enforcement point")
            last = key.last_used_at.isoformat(timespec="seconds") if key.last_used_at else "never"
            click.echo(f"{key.prefix}  {key.status:<9} {key.kind:<6} {owner:<24} "
                       f"cap={key.tier_cap or '-':<9} last used {last}  {key.name}")


@keys.command("revoke")
@click.argument("prefix")
def keys_revoke(prefix: str) -> None:
    from govern.identity.keys import revoke_key

    with app_context():
        revoke_key(session(), prefix, actor=actor())
    click.echo(f"key {prefix} revoked")


@keys.command("rotate")
@click.argument("prefix")
@click.option("--overlap", default="0s", show_default=True,
              help="How long the old key keeps working, e.g. 1h.")
def keys_rotate(prefix: str, overlap: str) -> None:
    from govern.identity.keys import rotate_key

    with app_context():
        until: datetime = utcnow() + duration(overlap)
        issued = rotate_key(session(), prefix, actor=actor(), old_valid_until=until)
    click.echo(issued.secret)
    click.echo(f"(new key {issued.info.prefix}; {prefix} works until "
               f"{until.isoformat(timespec='seconds')})", err=True)
