"""`govern requests`: access requests, listed and decided by the host operator.

Layer: web.
"""

from __future__ import annotations

import click

from govern.cli.context import actor, app_context, session


@click.group()
def requests() -> None:
    """Access requests: a tier, a model or a capability asked for by an organisation or identity."""


@requests.command("list")
@click.option("--state", type=click.Choice(["pending", "granted", "rejected"]), default=None)
def requests_list(state: str | None) -> None:
    from govern.governance.access_requests import list_requests

    with app_context():
        for info in list_requests(session(), state):
            holder = info.org_name or f"{info.issuer} {info.subject}"
            asked = " ".join(part for part in (info.kind, info.tier, info.model, info.capability) if part)
            until = f" until {info.expires_at.isoformat()}" if info.expires_at else ""
            click.echo(f"{info.id:>5}  {info.status:<8} {holder:<30} {asked}{until}")


@requests.command("approve")
@click.argument("request_id", type=int)
@click.option("--reason", default="")
def requests_approve(request_id: int, reason: str) -> None:
    """Grant at once, as the host operator (flagged break_glass in the trail)."""
    from govern.governance.access_requests import approve

    with app_context():
        info = approve(session(), request_id, actor=actor(), reason=reason, host=True)
    assert info.expires_at is not None  # a grant always has its expiry
    click.echo(f"access request {info.id} granted until {info.expires_at.isoformat()}")


@requests.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True)
def requests_reject(request_id: int, reason: str) -> None:
    from govern.governance.access_requests import reject

    with app_context():
        reject(session(), request_id, actor=actor(), reason=reason)
    click.echo(f"access request {request_id} rejected")
