"""`govern audit`: verify, checkpoint and export the audit trail.

Layer: web.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from govern.cli.context import (
    EXPORT_FORMATS,
    actor,
    app_context,
    read_manifest,
    session,
    signing_key,
    write_export,
)


@click.group()
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
        document = read_manifest(manifest or export_file.with_name(export_file.name + ".manifest.json"))
        result = verify_exported_trail(export_file, document, trusted, checkpoint_files)
    else:
        with app_context() as app:
            settings = app.extensions["govern.settings"]
            files = configured_files(settings.instance_path, settings.audit_checkpoint_dir)
            result = verify_trail(session(), trusted or signing_key(app).public_key(),
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




@audit.command("export")
@click.option("--format", "fmt", type=EXPORT_FORMATS, default="jsonl", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where the signed manifest goes (default OUTPUT.manifest.json).")
def audit_export(fmt: str, output: Path, manifest: Path | None) -> None:
    """Export the whole trail with its hashes and a signed manifest (docs/audit-export.md)."""
    from govern.audit.trail_export import export_trail

    with app_context() as app:
        export = export_trail(session(), fmt=fmt, actor=actor(), key=signing_key(app))
        write_export(export, output, manifest, None)
