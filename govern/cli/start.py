"""Setting up and serving: `govern init`, `govern demo`, `govern serve`.

Layer: web.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click
from flask import Flask

from govern.cli.context import actor, app_context, break_glass, session

if TYPE_CHECKING:
    from govern.governance.live_checks import LiveFacts


@click.command()
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


DEMO_KEYS_FILE = "demo-keys.env"
PEP_VARIABLE, DEMO_PEP_NAME = "PEP_KEY", "demo gateway"


def demo_variable(organisation: str) -> str:
    """`demo-verified` → `DEMO_VERIFIED_KEY`, the name the README's examples use (and its inverse
    below maps it back)."""
    return organisation.upper().replace("-", "_") + "_KEY"


def read_demo_keys(path: Path) -> dict[str, str]:
    """The `export NAME=KEY` lines an earlier `govern demo` wrote, as {NAME: KEY}."""
    if not path.exists():
        return {}
    lines = (line.removeprefix("export ").partition("=") for line in path.read_text().splitlines())
    return {name: value for name, _, value in lines if value}


def write_demo_keys(path: Path, keys: dict[str, str]) -> None:
    """Write the demo's keys for `. instance/demo-keys.env`; readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("# govern demo keys: `. instance/demo-keys.env` sets them in a shell\n")
        handle.writelines(f"export {name}={key}\n" for name, key in keys.items())


DEMO_ONCALL, DEMO_ONCALL_EMAIL = "demo-oncall", "oncall@demo.invalid"
DEMO_ESCALATION_URL = "https://escalation.demo.invalid/govern"


def demo_live_facts(app: Flask) -> LiveFacts:
    """The demo's escalation path, made once (an on-call board member with an e-mail address and a
    webhook, both taking incident.opened: point them at your own), and the live facts the demo's
    sign-offs are checked against. The host CLI logs no decisions: it writes the database directly,
    which has just answered, so decision logging counts as healthy here."""
    from govern.governance.proposal_kinds import Change
    from govern.identity.people import active_account, update_person
    from govern.notifications.endpoints import add_endpoint
    from govern.notifications.escalation import INCIDENT_OPENED, escalation_webhooks, live_facts
    from govern.notifications.preferences import recipients

    settings = app.extensions["govern.settings"]
    if not recipients(session(), INCIDENT_OPENED):
        if active_account(session(), DEMO_ONCALL) is None:
            break_glass(Change("user.create", {"username": DEMO_ONCALL, "roles": ["board"]}))
        oncall = active_account(session(), DEMO_ONCALL)
        assert oncall is not None
        update_person(session(), actor=actor(), person_id=oncall.person_id, email=DEMO_ONCALL_EMAIL)
    if not escalation_webhooks(session()):
        # A name that never resolves (.invalid): nothing leaves the machine until it is changed.
        add_endpoint(session(), actor=actor(), url=DEMO_ESCALATION_URL, event_types=[INCIDENT_OPENED],
                     secret_key=settings.secret_key, allow_private=True,
                     description="demo escalation: point it at your on-call tool")
    return live_facts(session(), decision_logging=True, feedback_intake=settings.feedback_intake)


@click.command()
def demo() -> None:
    """Add demo models, one organisation per tier and a gateway key; print the keys and write them
    to demo-keys.env in the instance folder. Run again, it reuses what still works."""
    from govern.governance.demo import load_demo_governance
    from govern.governance.proposal_kinds import Change
    from govern.identity.setup import load_demo, retire_demo_keys, working_key
    from govern.models.api_key import PEP

    with app_context() as app:
        path = app.extensions["govern.settings"].instance_path / DEMO_KEYS_FILE
        written = read_demo_keys(path)
        kept = {name.removesuffix("_KEY").lower().replace("_", "-"): key for name, key in written.items()}
        keys = load_demo(session(), actor=actor(), kept=kept)
        pep = written.get(PEP_VARIABLE)
        info = working_key(session(), pep)
        if pep is None or info is None or info.kind != PEP or info.name != DEMO_PEP_NAME:
            retire_demo_keys(session(), actor=actor(), kind=PEP, name=DEMO_PEP_NAME)
            pep = break_glass(Change("key.pep", {"name": DEMO_PEP_NAME}))["key"]
        load_demo_governance(session(), actor=actor(), facts=demo_live_facts(app))
        anchor_trail(app)
        write_demo_keys(path, {**{demo_variable(item.organisation): item.key for item in keys},
                               PEP_VARIABLE: pep})
    click.echo("Demo organisations and their keys:")
    for item in keys:
        click.echo(f"  {item.organisation:<16} {item.tier:<10} {item.key}")
    click.echo(f"  {'gateway (pep)':<27} {pep}")
    click.echo(f"\nThe keys are in {path}: `. {path}` sets {', '.join(sorted(read_demo_keys(path)))}.")
    click.echo("Models: open-7b (open), chat-standard (standard), frontier-1 (frontier), "
               "research-preview (research)")
    click.echo("Governance: open-7b signed off for free, chat-standard for verified, frontier-1 for "
               "trusted; research-preview is not deployable (internal only)")


@click.command()
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
    --decisions-only, a node does decisions and nothing else. Beside the workers runs the
    machine's notification dispatcher (`govern notify run`), except on a decisions-only node."""
    # Set before anything imports prometheus_client, so the workers share their samples.
    metrics_dir = tempfile.mkdtemp(prefix="govern-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    from govern.decisions import metrics
    from govern.serve import machine_writer, notification_dispatcher, refuse_a_taken_port
    from govern.serve import serve as run

    try:
        with app_context() as app:
            settings = app.extensions["govern.settings"]
        host, port = host or settings.host, port or settings.port
        refuse_a_taken_port(host, port)
        metrics.forget_process(os.getpid())  # it answers no requests: no policy version of its own
        click.echo(f"govern serving {'decisions only ' if decisions_only else ''}on http://{host}:{port}")
        target = "govern.serve:decision_worker_app" if decisions_only else "govern.serve:worker_app"
        dispatcher = nullcontext() if decisions_only else notification_dispatcher()
        with machine_writer(settings), dispatcher:
            run(target, host=host, port=port,
                workers=workers or settings.workers, threads=threads or settings.threads)
    finally:
        # granian's workers end in os._exit (multiprocessing), so only this process gets here.
        shutil.rmtree(metrics_dir, ignore_errors=True)
