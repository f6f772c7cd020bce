"""The `govern` command: set-up, serving, keys, organisations, policy, checks, audit, notifications.

Layer: web. One module per area; each command parses its options, calls one service, prints the
result; errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import os
import sys

import click

from govern.cli import audit, check, decisions, issuers, keys, orgs, policy, requests, start, users, webhooks
from govern.cli.context import GovernGroup, prepare_database

__all__ = ["cli", "main", "prepare_database"]


@click.group(cls=GovernGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="govern")
def cli() -> None:
    """govern: tiered access to AI models, decided by policy and governance."""


for command in (start.init, start.demo, start.serve, check.check, orgs.orgs, keys.keys,
                policy.policy, issuers.issuers, decisions.decisions, audit.audit, users.users,
                requests.requests, webhooks.webhooks, webhooks.notify):
    cli.add_command(command)


def main() -> None:
    """Console entry point: no stack trace for the unexpected either, unless GOVERN_DEBUG is set."""
    try:
        cli.main(prog_name="govern")
    except Exception as error:  # a stack trace helps nobody at a prompt; GOVERN_DEBUG shows it
        if os.environ.get("GOVERN_DEBUG"):
            raise
        click.echo(f"error: {type(error).__name__}: {error} (set GOVERN_DEBUG=1 for details)",
                   err=True)
        sys.exit(2)
