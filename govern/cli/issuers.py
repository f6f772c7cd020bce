"""`govern issuers`: trusted identity providers and their claim rules.

Layer: web.
"""

from __future__ import annotations

from pathlib import Path

import click

from govern.cli.context import app_context, break_glass, session
from govern.errors import InvalidInput


@click.group()
def issuers() -> None:
    """Trusted identity providers: whose bearer tokens get decisions, and on which tier."""


@issuers.command("list")
def issuers_list() -> None:
    from govern.identity.issuers import configuration_version, list_issuers

    with app_context():
        click.echo(f"issuer configuration version {configuration_version(session())}")
        for config in list_issuers(session()):
            state = "" if config.enabled else "  DISABLED"
            sso = "  sso" if config.sso else ""
            click.echo(f"  {config.name:<16} {config.issuer}  default={config.default_tier}  "
                       f"rules={len(config.rules)}{sso}{state}")


@issuers.command("import")
@click.argument("config_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def issuers_import(config_file: Path) -> None:
    """Make the trusted issuers exactly CONFIG_FILE's (YAML: issuers: [...]), if it validates."""
    from govern.governance.proposal_kinds import Change
    from govern.yaml_input import load_yaml

    loaded = load_yaml(config_file.read_text(), str(config_file))
    if not isinstance(loaded, dict) or "issuers" not in loaded:
        raise InvalidInput(f"{config_file} must hold a mapping with an 'issuers' list")
    with app_context():
        applied = break_glass(Change("issuer.import", {"issuers": loaded["issuers"]}))
    click.echo(f"issuer configuration version {applied['version']} is live")


@issuers.command("export")
@click.argument("config_file", type=click.Path(dir_okay=False, path_type=Path))
def issuers_export(config_file: Path) -> None:
    """Write the trusted issuers to CONFIG_FILE (YAML), ready for `govern issuers import`."""
    from govern.identity.issuers import configuration_version, list_issuers
    from govern.yaml_input import dump_yaml

    with app_context():
        version = configuration_version(session())
        docs = [config.as_dict() for config in list_issuers(session())]
    config_file.write_text(f"# govern issuer configuration version {version}\n"
                           + dump_yaml({"issuers": docs}, sort_keys=False))
    click.echo(f"issuer configuration version {version} written to {config_file}")
