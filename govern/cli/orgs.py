"""`govern orgs`: organisations and their tiers.

Layer: web.
"""

from __future__ import annotations

import click

from govern.cli.context import actor, app_context, break_glass, session


@click.group()
def orgs() -> None:
    """Organisations: each has a tier its keys inherit."""


@orgs.command("list")
def orgs_list() -> None:
    from govern.identity.organisations import list_orgs

    with app_context():
        for org in list_orgs(session()):
            flag = "  SUSPENDED" if org.suspended else ""
            click.echo(f"{org.id:>5}  {org.name:<30} {org.tier}{flag}")


@orgs.command("create")
@click.argument("name")
@click.option("--tier", required=True)
def orgs_create(name: str, tier: str) -> None:
    from govern.governance.proposal_kinds import Change

    with app_context():
        org = break_glass(Change("org.tier", {"name": name, "tier": tier}))
    click.echo(f"organisation {org['name']} (id {org['id']}) created in tier {org['tier']}")


@orgs.command("update")
@click.argument("name")
@click.option("--tier", default=None)
@click.option("--rename", default=None)
@click.option("--suspend/--unsuspend", default=None)
def orgs_update(name: str, tier: str | None, rename: str | None, suspend: bool | None) -> None:
    from govern.governance.proposal_kinds import Change
    from govern.identity.organisations import find_org

    with app_context():
        org = break_glass(Change("org.tier", {"org_id": find_org(session(), name).id, "name": rename,
                                              "tier": tier, "suspended": suspend}))
    click.echo(f"organisation {org['name']}: tier {org['tier']}, "
               f"{'suspended' if org['suspended'] else 'active'}")


@orgs.command("delete")
@click.argument("name")
def orgs_delete(name: str) -> None:
    from govern.identity.organisations import delete_org

    with app_context():
        delete_org(session(), name, actor=actor())
    click.echo(f"organisation {name} deleted")
