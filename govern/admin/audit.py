"""The global audit timeline, or one person's part of it."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from govern.admin.access import ANY_ROLE, html_errors, roles_required
from govern.audit.timeline import PAGE, recent_events
from govern.extensions import current_session

bp = Blueprint("audit", __name__, url_prefix="/audit")
html_errors(bp)


@bp.get("")
@roles_required(*ANY_ROLE)
def index() -> str:
    before = request.args.get("before", type=int)
    who = request.args.get("actor") or None
    events = recent_events(current_session(), before=before, actor=who)
    older = events[-1].id if len(events) == PAGE else None
    return render_template("audit/timeline.html", events=events, older=older, actor=who)
