"""The auditor's workspace in the admin UI: the decision-log explorer, one decision with the
policy version and the sign-off (approver, reviews, scorecard revision) it was made under, signed
exports of the log and the audit trail, their manifests."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, render_template, request, url_for

from govern.admin.access import READERS, actor, roles_required
from govern.api.decisions import RESULTS, filter_from_args
from govern.api.exports import server_key, streamed
from govern.audit.export_files import check_format, find_manifest, recent_manifests
from govern.audit.trail_export import export_trail
from govern.decisions.export import export_decisions
from govern.decisions.query import DecisionFilter, get_decision, list_decisions
from govern.decisions.usage import find_usage, usage_dict
from govern.errors import GovernError, NotFound
from govern.extensions import current_session
from govern.governance.overview import trace_sign_off
from govern.governance.registry import find_model
from govern.identity.organisations import list_orgs
from govern.policy.document import parse_document
from govern.policy.versions import get_policy_version
from govern.types import Reason

bp = Blueprint("decision_log", __name__)

PAGE = 50
FILTER_FIELDS = ("since", "until", "org", "key_prefix", "issuer", "subject", "tier", "model", "capability",
                 "result", "reason", "delivered")
# The explorer's "delivered" choices: query value and label.
DELIVERY = (("false", "not delivered"), ("true", "delivered"))


@bp.get("/decisions")
@roles_required(*READERS)
def index() -> str:
    session = current_session()
    chosen = {name: request.args.get(name, "") for name in FILTER_FIELDS}
    error = None
    rows: list[dict[str, object]] = []
    next_cursor = None
    try:
        where = filter_from_args(session, request.args)
        rows, next_cursor = list_decisions(session, where, limit=PAGE, cursor=request.args.get("cursor"))
    except GovernError as problem:
        error, where = problem.message, DecisionFilter()
    active: dict[str, Any] = {name: value for name, value in chosen.items() if value}
    return render_template(
        "decisions/index.html", rows=rows, chosen=chosen, active=active, error=error,
        next_url=url_for(".index", **active, cursor=next_cursor) if next_cursor else None,
        org_names={org.id: org.name for org in list_orgs(session)},
        results=list(RESULTS), reasons=[reason.value for reason in Reason], delivery=DELIVERY)


@bp.get("/decisions/<decision_id>")
@roles_required(*READERS)
def detail(decision_id: str) -> str:
    session = current_session()
    decision = get_decision(session, decision_id)
    if decision is None:
        raise NotFound(f"no decision {decision_id!r}", code="decision_not_found")
    try:
        governed = find_model(session, decision["model"]) if decision["model"] else None
    except NotFound:
        governed = None  # a model outside governance follows the policy alone
    signed = decision["sign_off_id"]
    used = find_usage(session, decision_id)
    return render_template("decisions/detail.html", decision=decision, governed=governed,
                           trace=trace_sign_off(session, signed) if signed is not None else None,
                           usage=usage_dict(used, current_app.extensions["govern.settings"].currency)
                           if used is not None else None)


@bp.get("/policy-versions/<int:version>")
@roles_required(*READERS)
def policy_version(version: int) -> str | Response:
    found = get_policy_version(current_session(), version)
    if request.args.get("format") == "json":
        return jsonify(found.as_dict())
    return render_template("decisions/policy_version.html", policy=found,
                           document=parse_document(found.document))


@bp.get("/decisions/export")
@roles_required(*READERS)
def export() -> Response:
    fmt = check_format(request.args.get("format", "csv"))
    where = filter_from_args(current_session(), request.args)
    started = export_decisions(current_session(), where, fmt=fmt, actor=actor(),
                               key=server_key(current_app))
    return streamed(started, url_for(".manifest", export_id=started.export_id))


@bp.get("/audit/export")
@roles_required(*READERS)
def audit_export() -> Response:
    fmt = check_format(request.args.get("format", "jsonl"))
    started = export_trail(current_session(), fmt=fmt, actor=actor(), key=server_key(current_app))
    return streamed(started, url_for(".manifest", export_id=started.export_id))


@bp.get("/exports")
@roles_required(*READERS)
def exports() -> str:
    return render_template("decisions/exports.html", manifests=recent_manifests(current_session()))


@bp.get("/exports/<export_id>/manifest.json")
@roles_required(*READERS)
def manifest(export_id: str) -> Response:
    response = jsonify(find_manifest(current_session(), export_id))
    response.headers["Content-Disposition"] = f'attachment; filename="govern-{export_id}.manifest.json"'
    return response
