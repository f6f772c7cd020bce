"""The `govern` command: set-up, serving, keys, organisations, policy, checks, audit.

Layer: web. Each command parses its options, calls one service, prints the result; errors are one
line on stderr and a non-zero exit.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.orm import Session

from govern.errors import GovernError, InvalidInput
from govern.models.base import utcnow

DURATION = re.compile(r"^(\d+)([smhd])$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Longer than any key should live; beyond it `now + duration` would not even be a date.
MAX_DURATION_DAYS = 36500


def actor() -> str:
    """The operator at the server: the operating-system user running the command."""
    return f"host:{getpass.getuser()}"


def break_glass(change: Any) -> dict[str, Any]:
    """Apply a guarded change as the host operator: at once, flagged `break_glass` in the trail."""
    from govern.governance.proposals import submit

    outcome = submit(session(), change, actor=actor(), host=True)
    assert outcome.result is not None
    return outcome.result


def duration(text: str) -> timedelta:
    match = DURATION.match(text)
    if match is None:
        raise InvalidInput(f"{text!r} is not a duration like 90s, 15m, 12h or 30d", code="invalid_duration")
    seconds = int(match.group(1)) * UNIT_SECONDS[match.group(2)]
    if seconds > MAX_DURATION_DAYS * UNIT_SECONDS["d"]:
        raise InvalidInput(f"{text!r} is longer than {MAX_DURATION_DAYS}d", code="invalid_duration")
    return timedelta(seconds=seconds)


@contextmanager
def app_context() -> Iterator[Flask]:
    """The app with its database migrated to the newest schema and a policy loaded."""
    from govern import create_app
    from govern.extensions import db

    app = create_app()
    with app.app_context():
        try:
            prepare_database(app)
            yield app
        finally:
            db.session.remove()
            # `serve` forks workers next: no connection of this process may leak into them.
            db.engine.dispose()


def prepare_database(app: Flask) -> None:
    from flask_migrate import upgrade

    from govern.extensions import current_session
    from govern.policy.files import read_policy_dir
    from govern.policy.store import ensure_seeded
    from govern.resources import resource_dir

    upgrade(directory=app.extensions["migrate"].directory)
    document, model_conf = read_policy_dir(resource_dir("policies"))
    ensure_seeded(current_session(), document, model_conf, actor=actor())


def session() -> Session:
    from govern.extensions import current_session

    return current_session()


class GovernGroup(click.Group):
    """Turns govern's expected errors into click's one-line error and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GovernError as error:
            raise click.ClickException(error.message) from None


@click.group(cls=GovernGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="govern")
def cli() -> None:
    """govern: tiered access to AI models, decided by policy and governance."""


# -- set-up and serving ----------------------------------------------------------------------------
@cli.command()
@click.option("--admin", "username", default="admin", show_default=True, help="First admin's name.")
def init(username: str) -> None:
    """Create the database, load the default policy and the first admin (printed once)."""
    from govern.identity.setup import create_first_admin

    with app_context() as app:
        credentials = create_first_admin(session(), actor=actor(), username=username)
        anchor_trail(app)
        click.echo(f"govern is ready: {app.config['SQLALCHEMY_DATABASE_URI']}")
        if credentials is None:
            click.echo("an admin already exists; no new credentials were made")
            return
        click.echo("\nFirst admin (shown only now; store it safely):")
        click.echo(f"  username: {credentials.username}")
        click.echo(f"  password: {credentials.password}")
        click.echo(f"  API key:  {credentials.api_key}")


def anchor_trail(app: Flask) -> None:
    """Sign the trail's head into the checkpoint files, so the first `govern audit verify` has a
    checkpoint to check against before `govern serve` has written one."""
    from govern.audit.checkpoints import checkpointer
    from govern.extensions import db

    checkpointer(db.engine, app.extensions["govern.settings"]).write()


@cli.command()
def demo() -> None:
    """Add demo models and one organisation per tier, and print a key for each."""
    from govern.governance.demo import load_demo_governance
    from govern.identity.setup import load_demo

    with app_context() as app:
        keys = load_demo(session(), actor=actor())
        load_demo_governance(session(), actor=actor())
        anchor_trail(app)
    click.echo("Demo organisations and their keys (shown only now):")
    for item in keys:
        click.echo(f"  {item.organisation:<16} {item.tier:<10} {item.key}")
    click.echo("\nModels: open-7b (open), chat-standard (standard), frontier-1 (frontier), "
               "research-preview (research)")
    click.echo("Governance: open-7b signed off for free, chat-standard for verified, frontier-1 for "
               "trusted; research-preview is not deployable (internal only)")


@cli.command()
@click.option("--host", default=None, help="Address to bind (default GOVERN_HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default GOVERN_PORT or 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (default: one per core).")
@click.option("--threads", type=int, default=None, help="Threads per worker (default 8).")
@click.option("--decisions-only", is_flag=True,
              help="Serve only the decision endpoints and operations; the admin UI and API answer 404.")
def serve(host: str | None, port: int | None, workers: int | None, threads: int | None,
          decisions_only: bool) -> None:
    """Run the production server (migrates the database first).

    One port serves both planes: the decision endpoints (/v1/check, /v1/check/batch,
    /v1/authorize, /access/v1/*, /v1/models) and, beside them, the admin UI and admin API. With
    --decisions-only, a node does decisions and nothing else."""
    # Set before anything imports prometheus_client, so the workers share their samples.
    metrics_dir = tempfile.mkdtemp(prefix="govern-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from govern.decisions import metrics
    from govern.serve import machine_writer, refuse_a_taken_port
    from govern.serve import serve as run

    try:
        with app_context() as app:
            settings = app.extensions["govern.settings"]
        host, port = host or settings.host, port or settings.port
        refuse_a_taken_port(host, port)
        metrics.forget_process(os.getpid())  # it answers no requests: no policy version of its own
        click.echo(f"govern serving {'decisions only ' if decisions_only else ''}on http://{host}:{port}")
        target = "govern.serve:decision_worker_app" if decisions_only else "govern.serve:worker_app"
        with machine_writer(settings):
            run(target, host=host, port=port,
                workers=workers or settings.workers, threads=threads or settings.threads)
    finally:
        # granian's workers end in os._exit (multiprocessing), so only this process gets here.
        shutil.rmtree(metrics_dir, ignore_errors=True)


# -- decisions -------------------------------------------------------------------------------------
@cli.command()
@click.argument("key")
@click.argument("model")
@click.argument("capability")
def check(key: str, model: str, capability: str) -> None:
    """Ask for a decision as KEY would, print it and why (it is logged like any other)."""
    from govern.decisions.runtime import Question
    from govern.types import REASON_TEXT

    with app_context() as app:
        holder = app.extensions["govern.runtime"]
        try:
            outcome = holder.get().check(key, [Question(model, capability)], request_id=None,
                                         started=time.perf_counter())[0]
        finally:
            holder.stop()
    verdict = "ALLOW" if outcome.allow else "DENY"
    click.echo(f"{verdict}  {outcome.reason.value}: {REASON_TEXT[outcome.reason]}")
    click.echo(f"  tier: {outcome.tier}  policy version: {outcome.policy_version}  "
               f"decision: {outcome.decision_id}")
    if outcome.rule:
        click.echo(f"  rule: {outcome.rule}")
    sys.exit(0 if outcome.allow else 3)


# -- organisations ---------------------------------------------------------------------------------
@cli.group()
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


# -- keys ------------------------------------------------------------------------------------------
@cli.group()
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


# -- policy ----------------------------------------------------------------------------------------
@cli.group()
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


# -- identity providers ----------------------------------------------------------------------------
@cli.group()
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


# -- decision log: export, verify, retention -------------------------------------------------------
EXPORT_FORMATS = click.Choice(["jsonl", "csv"])


def _time_option(name: str, text: str | None) -> datetime | None:
    from govern.api.body import time_field

    try:
        return time_field({name: text}, name) if text else None
    except InvalidInput:
        raise InvalidInput(f"--{name} must be an ISO 8601 date or time, e.g. 2030-01-31 or "
                           "2030-01-31T12:00:00Z") from None


def _write_export(export: Any, output: Path, manifest_path: Path | None, total: int | None) -> None:
    """Stream the export into OUTPUT with a progress bar, then write its signed manifest."""
    import json

    from tqdm import tqdm

    with output.open("wb") as handle, tqdm(total=total, unit=" rows", unit_scale=True,
                                            disable=None, file=sys.stderr) as bar:
        for chunk in export.chunks:
            handle.write(chunk)
            bar.update(export.rows - bar.n)
    manifest_path = manifest_path or output.with_name(output.name + ".manifest.json")
    manifest_path.write_text(json.dumps(export.manifest, indent=2, sort_keys=True) + "\n")
    click.echo(f"{export.rows} rows written to {output}; signed manifest in {manifest_path}")


def _read_manifest(path: Path) -> dict[str, Any]:
    import json

    from govern.audit.signing import ExportInvalid

    try:
        document = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ExportInvalid(f"{path.name} is not a JSON manifest") from None
    if not isinstance(document, dict):
        raise ExportInvalid(f"{path.name} is not a JSON manifest")
    return document


def _signing_key(app: Flask) -> Any:
    from govern.audit.signing import signing_key

    settings = app.extensions["govern.settings"]
    return signing_key(settings.instance_path, settings.signing_key)


@cli.group()
def decisions() -> None:
    """The decision log: signed exports, their offline check, retention."""


@decisions.command("export")
@click.option("--format", "fmt", type=EXPORT_FORMATS, default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the signed manifest goes (default OUTPUT.manifest.json).")
@click.option("--since", default=None, help="ISO 8601 time, inclusive.")
@click.option("--until", default=None, help="ISO 8601 time, exclusive.")
@click.option("--org", default=None, help="Organisation name or id.")
@click.option("--key-prefix", default=None)
@click.option("--tier", default=None)
@click.option("--model", default=None)
@click.option("--capability", default=None)
@click.option("--result", type=click.Choice(["allow", "deny"]), default=None)
@click.option("--reason", default=None)
@click.option("--delivered", type=click.Choice(["true", "false"]), default=None,
              help="false: the decisions nobody received (answered 503, row landed anyway).")
def decisions_export(fmt: str, output: Path, manifest: Path | None, **filters: str | None) -> None:
    """Export the decisions matching the filters, oldest first, with a signed manifest."""
    from govern.api.decisions import filter_from_args
    from govern.decisions.export import export_decisions
    from govern.decisions.query import count_decisions

    with app_context() as app:
        where = filter_from_args(session(), {k: v for k, v in filters.items() if v is not None})
        total = count_decisions(session(), where)
        export = export_decisions(session(), where, fmt=fmt, actor=actor(), key=_signing_key(app))
        _write_export(export, output, manifest, total)


@decisions.command("public-key")
def decisions_public_key() -> None:
    """Print the public key (PEM) that export manifests are signed with."""
    from govern.audit.signing import fingerprint, public_pem

    with app_context() as app:
        key = _signing_key(app)
    click.echo(public_pem(key), nl=False)
    click.echo(f"fingerprint {fingerprint(key)}", err=True)


@decisions.command("verify-export")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--public-key", "public_key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="PEM public key the manifest must be signed with.")
def decisions_verify_export(file: Path, manifest: Path, public_key: Path | None) -> None:
    """Check an export FILE against its MANIFEST offline (no database): signature, SHA-256, row
    count, and for an audit-trail export the whole hash chain."""
    from govern.audit.export_files import verify_export
    from govern.audit.signing import load_public_key
    from govern.audit.trail_export import check_chain

    document = _read_manifest(manifest)
    trusted = load_public_key(public_key.read_text()) if public_key else None
    checked = verify_export(file, document, trusted,
                            check_rows=check_chain if document.get("kind") == "audit" else None)
    pinned = "" if trusted else " (the key the manifest carries; pin it with --public-key)"
    chain = ", hash chain intact" if checked.kind == "audit" else ""
    click.echo(f"export OK: {checked.rows} {checked.kind} rows{chain}, "
               f"signed by {checked.fingerprint}{pinned}")


@decisions.command("purge")
@click.option("--before", default=None,
              help="ISO 8601 date or time (default: now minus GOVERN_DECISION_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Count and hash what would go; delete nothing.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=5_000, show_default=True)
def decisions_purge(before: str | None, dry_run: bool, batch_size: int) -> None:
    """Delete decisions older than the retention window, in short batches; the purge (range, rows,
    SHA-256 of the purged rows) is recorded in the audit trail."""
    from govern.decisions.retention import purge_decisions, retention_cutoff

    with app_context() as app:
        cutoff = _time_option("before", before) or retention_cutoff(
            app.extensions["govern.settings"].decision_retention_days)
        report = purge_decisions(session(), before=cutoff, actor=actor(), dry_run=dry_run,
                                 batch=batch_size)
    verb = "would delete" if dry_run else "deleted"
    span = f" ({report.first_decision_id} .. {report.last_decision_id})" if report.rows else ""
    click.echo(f"{verb} {report.rows} decision(s) made before {report.before}{span}")
    click.echo(f"sha256 of the purged rows: {report.sha256}")


# -- audit -----------------------------------------------------------------------------------------
@cli.group()
def audit() -> None:
    """The tamper-evident audit trail."""


@audit.command("verify")
@click.option("--export", "export_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="Check this audit-trail export offline instead of the database.")
@click.option("--manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="The export's signed manifest (default EXPORT.manifest.json).")
@click.option("--public-key", "public_key", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="PEM public key of the server (needed with --export).")
@click.option("--checkpoints", "checkpoint_files", multiple=True,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="A checkpoint file (repeatable); on the server, in addition to the configured ones.")
def audit_verify(export_file: Path | None, manifest: Path | None, public_key: Path | None,
                 checkpoint_files: tuple[Path, ...]) -> None:
    """Check the hash chain, the chain against the newest signed checkpoints, and that the rows
    deciding access agree with the trail; exit 1 naming each problem. With --export, check an
    exported trail and its checkpoints offline (no database)."""
    from govern.audit.checkpoints import checkpoint_files as configured_files
    from govern.audit.signing import load_public_key
    from govern.audit.verification import verify_exported_trail, verify_trail

    trusted = load_public_key(public_key.read_text()) if public_key else None
    if export_file is not None:
        if trusted is None or not checkpoint_files:
            raise click.UsageError("--export needs --public-key and at least one --checkpoints file")
        document = _read_manifest(manifest or export_file.with_name(export_file.name + ".manifest.json"))
        result = verify_exported_trail(export_file, document, trusted, checkpoint_files)
    else:
        with app_context() as app:
            settings = app.extensions["govern.settings"]
            files = configured_files(settings.instance_path, settings.audit_checkpoint_dir)
            result = verify_trail(session(), trusted or _signing_key(app).public_key(),
                                  [*files, *checkpoint_files])
    for line in result.passed:
        click.echo(line)
    for problem in result.problems:
        click.echo(f"Error: {problem}", err=True)
    if result.problems:
        sys.exit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Sign the trail's head now into the checkpoint files (if it moved since the newest one)."""
    from govern.audit.checkpoints import checkpointer
    from govern.extensions import db

    with app_context() as app:
        writer = checkpointer(db.engine, app.extensions["govern.settings"])
        checkpoint, written = writer.write()
    if checkpoint is None:
        raise click.ClickException("the audit trail is empty: nothing to checkpoint")
    verb = "written to " + ", ".join(map(str, writer.files)) if written else "already the newest"
    click.echo(f"checkpoint {checkpoint.number}: event {checkpoint.event_id} "
               f"({checkpoint.event_hash[:16]}…) {verb}")


# -- people of the admin UI -------------------------------------------------------------------------
ROLE_CHOICE = click.Choice(["admin", "reviewer", "approver", "board", "auditor"])


@cli.group()
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


@audit.command("export")
@click.option("--format", "fmt", type=EXPORT_FORMATS, default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the signed manifest goes (default OUTPUT.manifest.json).")
def audit_export(fmt: str, output: Path, manifest: Path | None) -> None:
    """Export the whole trail with its hashes and a signed manifest (docs/audit-export.md)."""
    from govern.audit.trail_export import export_trail

    with app_context() as app:
        export = export_trail(session(), fmt=fmt, actor=actor(), key=_signing_key(app))
        _write_export(export, output, manifest, None)


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


if __name__ == "__main__":
    main()
