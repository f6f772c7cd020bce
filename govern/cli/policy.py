"""`govern policy`: export, import and test the policy.

Layer: web.
"""

from __future__ import annotations

from pathlib import Path

import click

from govern.cli.context import app_context, break_glass, session


@click.group()
def policy() -> None:
    """The live policy: export, import, test."""


@policy.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def policy_export(folder: Path) -> None:
    """Write the live policy to FOLDER (model.conf, policy.yaml)."""
    from govern.policy.document import parse_document
    from govern.policy.files import write_policy_dir
    from govern.policy.store import current_policy

    with app_context():
        row = current_policy(session())
        write_policy_dir(folder, parse_document(row.document), row.model_conf, row.version)
    click.echo(f"policy version {row.version} written to {folder}")


@policy.command("import")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--comment", default="imported with govern policy import")
def policy_import(folder: Path, comment: str) -> None:
    """Replace the live policy with FOLDER's, if it validates (nothing changes otherwise)."""
    from govern.governance.proposal_kinds import Change
    from govern.policy.files import read_policy_dir

    with app_context():
        document, model_conf = read_policy_dir(folder)
        applied = break_glass(Change("policy.replace", {
            "document": document.as_dict(), "model_conf": model_conf, "comment": comment}))
    click.echo(f"policy version {applied['policy_version']} is live")


@policy.command("test")
@click.argument("cases_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--policy", "proposed", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Test this policy folder instead of the live policy.")
def policy_test(cases_file: Path, proposed: Path | None) -> None:
    """Check the expected decisions in CASES_FILE; exit 1 at the first mismatch."""
    from govern.decisions.policy_tests import load_cases, run_cases
    from govern.policy.files import read_policy_dir
    from govern.policy.snapshot import PolicySnapshot
    from govern.policy.store import current_snapshot

    cases = load_cases(cases_file.read_text())
    with app_context():
        if proposed is not None:
            document, model_conf = read_policy_dir(proposed)
            snapshot = PolicySnapshot(0, document, model_conf)
        else:
            snapshot = current_snapshot(session())
        for result in run_cases(session(), snapshot, cases):
            got = f"{'allow' if result.verdict.allow else 'deny'} ({result.verdict.reason.value})"
            if not result.passed:
                raise click.ClickException(
                    f"case {result.number}: {result.description}: expected {result.expected}, "
                    f"got {got}")
            click.echo(f"ok   {result.number}: {result.description}: {got}")
    click.echo(f"{len(cases)} case(s) passed")
