"""`govern check`: one decision asked as a key would, printed with its reason.

Layer: web.
"""

from __future__ import annotations

import sys
import time

import click

from govern.cli.context import app_context


@click.command()
@click.argument("key")
@click.argument("model")
@click.argument("capability")
def check(key: str, model: str, capability: str) -> None:
    """Ask for a decision as KEY would, print it and why (it is logged like any other)."""
    from govern.decisions.runtime import Question

    with app_context() as app:
        holder = app.extensions["govern.runtime"]
        try:
            outcome = holder.get().check(key, [Question(model, capability)], request_id=None,
                                         started=time.perf_counter())[0]
        finally:
            holder.stop()
    verdict = "ALLOW" if outcome.allow else "DENY"
    click.echo(f"{verdict}  {outcome.reason.value}: {outcome.message}")
    facts = {"tier": outcome.tier, "policy version": outcome.policy_version, "decision": outcome.decision_id}
    click.echo("  " + "  ".join(f"{name}: {value}" for name, value in facts.items() if value is not None))
    if outcome.rule:
        click.echo(f"  rule: {outcome.rule}")
    sys.exit(0 if outcome.allow else 3)
