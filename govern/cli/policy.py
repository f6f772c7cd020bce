"""`govern policy`: export, import and test the policy.

Layer: web.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from govern.cli.context import app_context, break_glass, session

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from govern.policy.snapshot import PolicySnapshot
    from govern.types import ModelAccess


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
@click.option("--governance", "fixture", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Start from this governance state (YAML) instead of the live one.")
@click.option("--offline", is_flag=True,
              help="Use files alone (needs --policy): no database is read or created.")
def policy_test(cases_file: Path, proposed: Path | None, fixture: Path | None, offline: bool) -> None:
    """Check the expected decisions in CASES_FILE, with governance; exit 1 at the first mismatch.

    Cases are decided under the live governance (sign-offs, holds, suspensions) unless --governance
    names a fixture; a case's own `governance:` overrides either for that case."""
    from govern.decisions.policy_tests import load_cases, load_governance
    from govern.policy.files import read_policy_dir

    cases = load_cases(cases_file.read_text())
    governed = load_governance(fixture.read_text(), str(fixture)) if fixture is not None else None
    if offline:
        if proposed is None:
            raise click.UsageError("--offline tests a policy folder: name it with --policy DIR")
        from govern.policy.snapshot import PolicySnapshot

        document, model_conf = read_policy_dir(proposed)
        _report(None, PolicySnapshot(0, document, model_conf, governed), cases)
        return
    with app_context():
        _report(session(), _snapshot(proposed, governed), cases)


def _snapshot(proposed: Path | None, governed: Mapping[str, ModelAccess] | None) -> PolicySnapshot:
    """The live policy or the `proposed` folder's, under `governed` or the live governance."""
    from govern.governance.access import governance_access
    from govern.models.base import utcnow
    from govern.policy.files import read_policy_dir
    from govern.policy.snapshot import PolicySnapshot
    from govern.policy.store import current_snapshot

    if governed is None:
        governed = governance_access(session(), utcnow())[0]
    if proposed is None:
        return current_snapshot(session(), governed)
    document, model_conf = read_policy_dir(proposed)
    return PolicySnapshot(0, document, model_conf, governed)


def _report(db: Session | None, snapshot: PolicySnapshot, cases: list[dict[str, Any]]) -> None:
    from govern.decisions.policy_tests import run_cases
    from govern.types import REASON_TEXT, Reason

    governance = (Reason.MODEL_SUSPENDED, Reason.NOT_SIGNED_OFF, Reason.SIGNOFF_BELOW_TIER)
    for result in run_cases(db, snapshot, cases):
        reason = result.verdict.reason
        got = f"{'allow' if result.verdict.allow else 'deny'} ({reason.value})"
        if not result.passed:
            why = f"; governance: {REASON_TEXT[reason]}" if reason in governance else ""
            raise click.ClickException(
                f"case {result.number}: {result.description}: expected {result.expected}, "
                f"got {got}{why}")
        click.echo(f"ok   {result.number}: {result.description}: {got}")
    click.echo(f"{len(cases)} case(s) passed")


@policy.command("diff")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def policy_diff(folder: Path) -> None:
    """Print what FOLDER's policy changes relative to the live policy (nothing is stored)."""
    from govern.policy.diff import diff_lines, diff_policies
    from govern.policy.document import parse_document
    from govern.policy.files import read_policy_dir
    from govern.policy.store import current_policy

    with app_context():
        document, model_conf = read_policy_dir(folder)
        row = current_policy(session())
        diff = diff_policies(parse_document(row.document), document, row.model_conf, model_conf)
    click.echo(f"{folder} against live policy version {row.version}:")
    for line in diff_lines(diff):
        click.echo(line)


@policy.command("impact")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--days", default=7, show_default=True, type=int,
              help="Replay the policy answers logged in this many last days.")
def policy_impact(folder: Path, days: int) -> None:
    """Print how the logged policy answers of the last days would change under FOLDER's policy."""
    from govern.decisions.impact import policy_impact as replay
    from govern.policy.files import read_policy_dir

    with app_context():
        document, model_conf = read_policy_dir(folder)
        impact = replay(session(), document, days=days, model_conf=model_conf)
    click.echo(f"{impact.replayed} policy answer(s) of the last {days} day(s) replayed "
               f"({impact.questions} distinct question(s))")
    for label, flips in (("allow -> deny", impact.allow_to_deny), ("deny -> allow", impact.deny_to_allow)):
        click.echo(f"{flips.total} answer(s) would flip {label}")
        for heading, buckets in (("organisation", flips.by_org), ("model", flips.by_model),
                                 ("capability", flips.by_capability)):
            for name, bucket in sorted(buckets.items(), key=lambda item: (-item[1].count, item[0])):
                click.echo(f"  {heading} {name}: {bucket.count} (e.g. {', '.join(bucket.examples)})")
