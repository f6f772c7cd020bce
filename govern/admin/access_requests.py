"""Access requests: the list (pending first), and each request's page with what its id links (the
deny, the proposal that decided it, the first allowed decision under the grant) and the approve
and reject buttons."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import Length

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.extensions import current_session
from govern.governance import access_requests, proposals
from govern.models.access_request import PENDING

bp = Blueprint("access_requests", __name__, url_prefix="/access-requests")
html_errors(bp)
REQUEST_ID = "<int(max=2147483647):request_id>"


class DecisionForm(FlaskForm):  # type: ignore[misc]
    """Approve or reject: the CSRF token and a reason (required to reject)."""

    reason = StringField("Reason", validators=[Length(max=proposals.MAX_REASON)])


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    listed = access_requests.list_requests(current_session())
    return render_template("access_requests/index.html",
                           pending=[r for r in listed if r.state == PENDING],
                           decided=[r for r in listed if r.state != PENDING])


@bp.get(f"/{REQUEST_ID}")
@roles_required(*READERS)
def detail(request_id: int) -> str:
    return render_template("access_requests/detail.html",
                           trail=access_requests.trail(current_session(), request_id),
                           me=actor(), holds=holds, form=DecisionForm())


def _decide(request_id: int, verb: str) -> Response | tuple[str, int]:
    form = DecisionForm()
    if not form.validate_on_submit():
        return render_template("errors/error.html", status=400,
                               message="the form expired; reload the page and try again"), 400
    decide = access_requests.approve if verb == "approve" else access_requests.reject
    decide(current_session(), request_id, actor=actor(), reason=form.reason.data or "")
    return redirect(url_for(".detail", request_id=request_id))


@bp.post(f"/{REQUEST_ID}/approve")
@roles_required("admin")
def approve(request_id: int) -> Response | tuple[str, int]:
    return _decide(request_id, "approve")


@bp.post(f"/{REQUEST_ID}/reject")
@roles_required("admin")
def reject(request_id: int) -> Response | tuple[str, int]:
    return _decide(request_id, "reject")
