"""The audit trail: every event, filtered by actor, action, target and time (UTC), paged by id,
each with its before and after as a field-by-field diff."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from govern.admin.access import ANY_ROLE, READERS, html_errors, roles_required
from govern.api.body import time_field
from govern.audit.checkpoints import checkpoint_files
from govern.audit.signing import signing_key
from govern.audit.timeline import PAGE, EventFilter, event_actions, recent_events
from govern.audit.verification import verify_trail
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance.proposals import diff

bp = Blueprint("audit", __name__, url_prefix="/audit")
html_errors(bp)
FILTER_FIELDS = ("actor", "action", "target", "since", "until")
INVALID = 400


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> tuple[str, int]:
    session = current_session()
    chosen = {name: request.args.get(name, "").strip() for name in FILTER_FIELDS}
    active = {name: value for name, value in chosen.items() if value}
    error, events = None, []
    try:
        where = EventFilter(actor=active.get("actor"), action=active.get("action"),
                            target=active.get("target"),
                            since=time_field(active, "since") if "since" in active else None,
                            until=time_field(active, "until") if "until" in active else None)
        events = recent_events(session, before=request.args.get("before", type=int), where=where, limit=PAGE)
    except GovernError as problem:
        error = problem.message
    older = events[-1].id if len(events) == PAGE else None
    return render_template("audit/timeline.html", events=events, older=older, chosen=chosen, active=active,
                           actions=event_actions(session), error=error,
                           diffs={event.id: diff(event.before, event.after) for event in events}), \
        INVALID if error else 200


@bp.get("/verify")
@roles_required(*READERS)
def verify() -> tuple[str, int]:
    """`govern audit verify` in the browser: the chain, the signed checkpoints, the live rows."""
    settings = current_app.extensions["govern.settings"]
    files = checkpoint_files(settings.instance_path, settings.audit_checkpoint_dir)
    key = signing_key(settings.instance_path, settings.signing_key).public_key()
    result = verify_trail(current_session(), key, files)
    return render_template("audit/verify.html", result=result), 200
