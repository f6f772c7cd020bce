"""The policy page: the live policy as tables and one form over the whole document; "Preview"
shows the diff against the live policy and the impact on the logged decisions before "Propose /
apply" (a guarded `policy.replace` change, a proposal while a second admin must approve it). The
policy's versions, each as tables, and the diff between any two."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.policy_forms import (
    PolicyDraftForm,
    draft_digest,
    form_values,
    matrix_key,
    parsed_draft,
    values_from,
)
from govern.decisions.impact import DEFAULT_DAYS, policy_impact
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import single_admin, submit
from govern.policy.diff import diff_policies
from govern.policy.document import PolicyDocument, parse_document
from govern.policy.store import check_policy, current_policy
from govern.policy.versions import get_policy_version, list_policy_versions

bp = Blueprint("policy", __name__, url_prefix="/policy")
html_errors(bp)
INVALID = 400


def _page(form: PolicyDraftForm, values: dict[str, Any], draft: PolicyDocument | None,
          errors: dict[str, str], preview: dict[str, Any] | None = None, status: int = 200
          ) -> tuple[str, int]:
    session = current_session()
    row = current_policy(session)
    live = parse_document(row.document)
    shown = draft or live
    # The fingerprint of the draft on show goes back with Apply: only a previewed draft is stored.
    previewed = draft_digest(draft) if preview is not None and draft is not None else None
    return render_template("policy/index.html", live=live, row=row, shown=shown, form=form, values=values,
                           errors=errors, preview=preview, matrix_key=matrix_key, holds=holds,
                           single_admin=single_admin(session), previewed=previewed), status


def _submitted() -> tuple[PolicyDraftForm, dict[str, Any], PolicyDocument | None, dict[str, str]]:
    form = PolicyDraftForm()
    matrix = {name for name in request.form if name.startswith("grant|")}
    values = values_from(request.form, matrix)
    if not form.validate_on_submit():
        errors = {name: "; ".join(messages) for name, messages in form.errors.items()}
        return form, values, None, errors or {"document": "the form could not be read; reload the page"}
    draft, errors = parsed_draft(request.form, matrix,
                                 parse_document(current_policy(current_session()).document))
    return form, values, draft, errors


@bp.get("")
@roles_required(*READERS)
def index() -> tuple[str, int]:
    live = parse_document(current_policy(current_session()).document)
    return _page(PolicyDraftForm(), form_values(live), None, {})


def _previewed(form: PolicyDraftForm, values: dict[str, Any], draft: PolicyDocument,
               errors: dict[str, str] | None = None) -> tuple[str, int]:
    """The page with the draft's diff and impact, or its refusal."""
    session = current_session()
    row = current_policy(session)
    try:
        # The rules every stored version is held to, so a preview never promises what apply refuses.
        check_policy(session, draft, row.model_conf)
        impact = policy_impact(session, draft, days=form.days.data or DEFAULT_DAYS)
    except GovernError as error:
        return _page(form, values, draft, {"document": error.message}, status=INVALID)
    diff = diff_policies(parse_document(row.document), draft, row.model_conf, row.model_conf)
    return _page(form, values, draft, errors or {}, {"diff": diff, "impact": impact})


@bp.post("/preview")
@roles_required("admin")
def preview() -> tuple[str, int]:
    form, values, draft, errors = _submitted()
    if draft is None:
        return _page(form, values, None, errors, status=INVALID)
    return _previewed(form, values, draft)


@bp.post("/apply")
@roles_required("admin")
def apply() -> Response | tuple[str, int]:
    form, values, draft, errors = _submitted()
    if draft is None:
        return _page(form, values, None, errors, status=INVALID)
    if request.form.get("previewed") != draft_digest(draft):
        # Edited after its preview (or never previewed): what would be stored is shown first.
        return _previewed(form, values, draft, {
            "document": "The draft changed since its preview: read this preview, then apply."})
    session = current_session()
    payload = {"document": draft.as_dict(), "model_conf": current_policy(session).model_conf,
               "comment": form.comment.data or "changed on the policy page"}
    try:
        outcome = submit(session, Change("policy.replace", payload), actor=actor())
    except GovernError as error:
        session.rollback()
        return _page(form, values, draft, {"document": error.message}, status=INVALID)
    if outcome.applied or outcome.proposal is None:
        return redirect(url_for(".index"))
    return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))


@bp.get("/versions")
@roles_required(*READERS)
def versions() -> str:
    return render_template("policy/versions.html", versions=list_policy_versions(current_session()))


@bp.get("/versions/<int:version>")
@roles_required(*READERS)
def version(version: int) -> Response:
    return redirect(url_for("decision_log.policy_version", version=version))


@bp.get("/versions/diff")
@roles_required(*READERS)
def versions_diff() -> str:
    """`from` and `to` default to the version before the live one and the live one."""
    session = current_session()
    live = current_policy(session).version
    try:
        new_number = int(request.args.get("to", live))
        old_number = int(request.args.get("from", max(new_number - 1, 1)))
    except ValueError:
        raise InvalidInput("choose two versions to compare (from and to)", code="invalid_versions") from None
    old, new = get_policy_version(session, old_number), get_policy_version(session, new_number)
    diff = diff_policies(parse_document(old.document), parse_document(new.document), old.model_conf,
                         new.model_conf)
    return render_template("policy/versions_diff.html", old=old, new=new, diff=diff)
