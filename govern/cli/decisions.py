"""`govern decisions`: signed exports of the decision log, their offline check, retention.

Layer: web.
"""

from __future__ import annotations

from pathlib import Path

import click

from govern.cli.context import (
    EXPORT_FORMATS,
    actor,
    app_context,
    read_manifest,
    session,
    signing_key,
    time_option,
    write_export,
)


@click.group()
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
        export = export_decisions(session(), where, fmt=fmt, actor=actor(), key=signing_key(app))
        write_export(export, output, manifest, total)


@decisions.command("public-key")
def decisions_public_key() -> None:
    """Print the public key (PEM) that export manifests are signed with."""
    from govern.audit.signing import fingerprint, public_pem

    with app_context() as app:
        key = signing_key(app)
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

    document = read_manifest(manifest)
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
        cutoff = time_option("before", before) or retention_cutoff(
            app.extensions["govern.settings"].decision_retention_days)
        report = purge_decisions(session(), before=cutoff, actor=actor(), dry_run=dry_run,
                                 batch=batch_size)
    verb = "would delete" if dry_run else "deleted"
    span = f" ({report.first_decision_id} .. {report.last_decision_id})" if report.rows else ""
    click.echo(f"{verb} {report.rows} decision(s) made before {report.before}{span}")
    click.echo(f"sha256 of the purged rows: {report.sha256}")
