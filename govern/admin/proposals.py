"""Proposals: guarded changes waiting for a second admin, each with what it changes, and the
approve, reject and withdraw buttons; decided proposals below them."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import Length

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.keys import key_created_page
from govern.admin.people import password_page
from govern.extensions import current_session
from govern.governance import proposals
from govern.models.proposal import PENDING

bp = Blueprint("proposals", __name__, url_prefix="/proposals")
html_errors(bp)
PROPOSAL_ID = "<int(max=2147483647):proposal_id>"
DECIDED_SHOWN = 50


class DecisionForm(FlaskForm):  # type: ignore[misc]
    """Approve, reject or withdraw: the CSRF token and an optional reason."""

    reason = StringField("Reason", validators=[Length(max=proposals.MAX_REASON)])


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    session = current_session()
    decided = proposals.list_proposals(session, decided=True, before=request.args.get("before", type=int),
                                       limit=DECIDED_SHOWN)
    return render_template(
        "proposals/index.html", pending=proposals.list_proposals(session, PENDING), decided=decided,
        older=decided[-1].id if len(decided) == DECIDED_SHOWN else None,
        single_admin=proposals.single_admin(session), me=actor(), holds=holds, form=DecisionForm())


@bp.get(f"/{PROPOSAL_ID}")
@roles_required(*READERS)
def detail(proposal_id: int) -> str:
    return render_template("proposals/detail.html",
                           proposal=proposals.get_proposal(current_session(), proposal_id),
                           me=actor(), holds=holds, form=DecisionForm())


def _decide(proposal_id: int, verb: str) -> Response | tuple[str, int]:
    form = DecisionForm()
    if not form.validate_on_submit():
        return render_template("errors/error.html", status=400,
                               message="the form expired; reload the page and try again"), 400
    decide = {"approve": proposals.approve, "reject": proposals.reject,
              "withdraw": proposals.withdraw}[verb]
    decided = decide(current_session(), proposal_id, actor=actor(), reason=form.reason.data or "")
    if isinstance(decided, proposals.Outcome) and decided.result and "key" in decided.result:
        # An approved key (an enforcement point's, an admin's) exists from now on: its secret is
        # shown to the approver this once, as to whoever makes a key that needs no approval.
        return key_created_page(decided.result)
    if isinstance(decided, proposals.Outcome) and decided.result and "password" in decided.result:
        return password_page(decided.result)  # an approved new account's, likewise
    return redirect(url_for(".detail", proposal_id=proposal_id))


@bp.post(f"/{PROPOSAL_ID}/approve")
@roles_required("admin")
def approve(proposal_id: int) -> Response | tuple[str, int]:
    return _decide(proposal_id, "approve")


@bp.post(f"/{PROPOSAL_ID}/reject")
@roles_required("admin")
def reject(proposal_id: int) -> Response | tuple[str, int]:
    return _decide(proposal_id, "reject")


@bp.post(f"/{PROPOSAL_ID}/withdraw")
@roles_required("admin")
def withdraw(proposal_id: int) -> Response | tuple[str, int]:
    return _decide(proposal_id, "withdraw")
