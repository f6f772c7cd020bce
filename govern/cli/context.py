"""What every command shares: the app and its session, the acting operator, durations, exports.

Layer: web.
"""

from __future__ import annotations

import getpass
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from flask import Flask
from sqlalchemy.orm import Session

from govern.errors import GovernError, InvalidInput

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



EXPORT_FORMATS = click.Choice(["jsonl", "csv"])


def time_option(name: str, text: str | None) -> datetime | None:
    from govern.api.body import time_field

    try:
        return time_field({name: text}, name) if text else None
    except InvalidInput:
        raise InvalidInput(f"--{name} must be an ISO 8601 date or time, e.g. 2030-01-31 or "
                           "2030-01-31T12:00:00Z") from None


def write_export(export: Any, output: Path, manifest_path: Path | None, total: int | None) -> None:
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


def read_manifest(path: Path) -> dict[str, Any]:
    import json

    from govern.audit.signing import ExportInvalid

    try:
        document = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise ExportInvalid(f"{path.name} is not a JSON manifest") from None
    if not isinstance(document, dict):
        raise ExportInvalid(f"{path.name} is not a JSON manifest")
    return document


def signing_key(app: Flask) -> Any:
    from govern.audit.signing import signing_key

    settings = app.extensions["govern.settings"]
    return signing_key(settings.instance_path, settings.signing_key)

