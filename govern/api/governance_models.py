"""Governance API for models under governance: the list and one model's whole state, registering a
model and a new version, retiring it, ratings, reviews, the kill switch, and the deployment check.

Each route calls the same service function as the model pages of the admin UI (govern.admin.models)
with the same roles, so separation of duties, quorum and holds hold here by construction. A model
is named as callers name it; a change acts on its newest version, as the model's page does."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, Response, g, jsonify, request
from werkzeug.wrappers import Response as Answer

from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.api.ops import current_live_facts
from govern.api.problems import json_response, problem
from govern.errors import InvalidInput
from govern.extensions import current_session
from govern.governance.deployable import Deployability, deployable
from govern.governance.holds import HoldStatus
from govern.governance.overview import ModelOverview, model_overview
from govern.governance.presets import DEFAULT_PRESET
from govern.governance.registry import (
    find_model,
    list_models,
    model_versions,
    register_model,
    register_version,
    retire_model,
)
from govern.governance.reviews import all_reviews, record_review
from govern.governance.scorecards import rate_category, rating_history
from govern.governance.suspension import lift_suspension, suspend_model
from govern.identity.users import ROLES
from govern.models import GovernedModel, RiskRating, SafetyReview, SignOff
from govern.models.base import utcnow

bp = Blueprint("governance_models", __name__, url_prefix="/v1/governance")

ANY_ROLE = ROLES  # every governance role and auditors read, as on the UI's pages
MODEL = "/models/<name>"
PAGE = 50
MAX_PAGE = 10_000  # past any real list; an offset the database takes
# The limits of the UI's forms (govern.admin.governance_forms).
SHORT, OWNER, TEXT, LONG, RATIONALE = 100, 200, 5000, 10_000, 1000
TRUE = ("1", "true", "yes")


def text(body: dict[str, Any], name: str, limit: int, *, required: bool = True) -> str:
    """A string field of at most `limit` characters; an empty one is left to the service, which
    names what is missing with its own code."""
    value: str = field(body, name, str, required=required, default="")
    if len(value) > limit:
        raise InvalidInput(f"field {name!r} must be at most {limit} characters", code="invalid_field")
    return value


def created(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


# -- what the answers hold --------------------------------------------------------------------------
def sign_off_json(signed: SignOff) -> dict[str, Any]:
    return {"id": signed.id, "approver": signed.approver, "tier": signed.tier,
            "conditions": signed.conditions, "revision": signed.revision, "created_at": signed.created_at,
            "expires_at": signed.expires_at, "reversed_at": signed.reversed_at,
            "reversed_by": signed.reversed_by, "reversal_rationale": signed.reversal_rationale}


def hold_json(hold: HoldStatus | None, tier: str | None = None) -> dict[str, Any] | None:
    if hold is None:
        return None
    return {"id": hold.id, "cause": hold.cause, "since": hold.since, "reviews_needed": hold.reviews_needed,
            "fresh_reviews": hold.supporters(tier), "release_needed": hold.release_needed,
            "released_by": hold.released_by, "released_at": hold.released_at,
            "waiting_for": list(hold.waiting_for(tier)), "summary": hold.summary(tier)}


def rating_json(rating: RiskRating) -> dict[str, Any]:
    return {"id": rating.id, "category": rating.category, "pre_level": rating.pre_level,
            "post_level": rating.post_level, "evidence": rating.evidence, "links": rating.links,
            "rater": rating.rater, "revision": rating.revision, "created_at": rating.created_at}


def review_json(review: SafetyReview) -> dict[str, Any]:
    return {"id": review.id, "reviewer": review.reviewer, "recommendation": review.recommendation,
            "tier": review.tier, "rationale": review.rationale, "revision": review.revision,
            "created_at": review.created_at}


def version_json(model: GovernedModel) -> dict[str, Any]:
    return {"id": model.id, "name": model.name, "version": model.version, "owner": model.owner,
            "model_group": model.model_group, "description": model.description, "preset": model.preset,
            "revision": model.revision, "created_at": model.created_at, "created_by": model.created_by,
            "suspended": model.suspended, "suspension_reason": model.suspension_reason or None,
            "retired_at": model.retired_at, "retired_by": model.retired_by,
            "retirement_reason": model.retirement_reason}


def summary_json(view: ModelOverview) -> dict[str, Any]:
    """What the list shows of a model."""
    return {**version_json(view.model), "gate": view.gate.status, "open_from": view.open_from,
            "sign_off": sign_off_json(view.signed_off) if view.signed_off else None,
            "held": view.hold is not None}


def overview_json(view: ModelOverview) -> dict[str, Any]:
    """One model's whole governance state, as its page shows it."""
    gate = view.gate
    return {
        **version_json(view.model),
        "gate": {"status": gate.status, "deployable": gate.deployable, "overall_pre": gate.overall_pre,
                 "overall_post": gate.overall_post, "reasons": list(gate.reasons)},
        "scorecard": {category: rating_json(rating) for category, rating in view.scorecard.items()},
        "categories": [{"id": c.id, "name": c.name} for c in view.preset.categories],
        "quorum": {"needed": view.quorum.needed, "widest_tier": view.quorum.widest_tier,
                   "supporters": view.quorum.supporters},
        "reviews": [review_json(review) for review in view.reviews],
        "sign_off": sign_off_json(view.signed_off) if view.signed_off else None,
        "sign_offs": [sign_off_json(signed) for signed in view.sign_offs],
        "open_from": view.open_from,
        "hold": hold_json(view.hold),
        "tiers": list(view.tiers),
    }


def model_state(model: GovernedModel) -> dict[str, Any]:
    return overview_json(model_overview(current_session(), model, utcnow()))


def named(name: str) -> GovernedModel:
    """The newest version of `name`; NotFound (model_not_found) when it is not under governance."""
    return find_model(current_session(), name)


# -- models and versions ----------------------------------------------------------------------------
@bp.get("/models")
@require_role(*ANY_ROLE)
def list_governed() -> Response:
    session = current_session()
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    models = list_models(session, offset=(page - 1) * PAGE, limit=PAGE + 1)
    now = utcnow()
    return jsonify({"models": [summary_json(model_overview(session, m, now)) for m in models[:PAGE]],
                    "page": page, "more": len(models) > PAGE})


@bp.post("/models")
@require_role("admin")
def register() -> Response:
    body = json_body()
    model = register_model(current_session(), actor=g.actor, name=text(body, "name", SHORT),
                           version=text(body, "version", SHORT), owner=text(body, "owner", OWNER),
                           model_group=text(body, "model_group", SHORT),
                           preset=text(body, "preset", SHORT, required=False) or DEFAULT_PRESET,
                           description=text(body, "description", TEXT, required=False))
    return created(model_state(model))


@bp.get(MODEL)
@require_role(*ANY_ROLE)
def show(name: str) -> Response:
    return jsonify(model_state(named(name)))


@bp.get(f"{MODEL}/versions")
@require_role(*ANY_ROLE)
def versions(name: str) -> Response:
    named(name)
    return jsonify({"versions": [version_json(m) for m in model_versions(current_session(), name)]})


@bp.post(f"{MODEL}/versions")
@require_role("admin")
def new_version(name: str) -> Response:
    body = json_body()
    new = register_version(current_session(), actor=g.actor, model=named(name),
                           version=text(body, "version", SHORT),
                           description=text(body, "description", TEXT, required=False))
    return created(model_state(new))


@bp.post(f"{MODEL}/retirement")
@require_role("admin")
def retire(name: str) -> Response:
    model = named(name)
    retire_model(current_session(), actor=g.actor, model=model, reason=text(json_body(), "reason", RATIONALE))
    return jsonify(model_state(model))


# -- ratings and reviews ----------------------------------------------------------------------------
def _links(links: str) -> str:
    """One http(s) link a line, as the UI's rating form asks."""
    for line in links.splitlines():
        url = urlparse(line.strip())
        if line.strip() and (url.scheme not in ("http", "https") or not url.netloc):
            raise InvalidInput(f"not an http(s) link: {line.strip()[:80]}", code="invalid_link")
    return links


@bp.get(f"{MODEL}/ratings")
@require_role(*ANY_ROLE)
def ratings(name: str) -> Response:
    return jsonify({"ratings": [rating_json(r) for r in rating_history(current_session(), named(name))]})


@bp.post(f"{MODEL}/ratings")
@require_role("reviewer")
def rate(name: str) -> Response:
    body = json_body()
    rating = rate_category(current_session(), actor=g.actor, model=named(name),
                           category=text(body, "category", SHORT), pre_level=text(body, "pre_level", SHORT),
                           post_level=text(body, "post_level", SHORT),
                           evidence=text(body, "evidence", LONG),
                           links=_links(text(body, "links", LONG, required=False)))
    return created(rating_json(rating))


@bp.get(f"{MODEL}/reviews")
@require_role(*ANY_ROLE)
def reviews(name: str) -> Response:
    return jsonify({"reviews": [review_json(r) for r in all_reviews(current_session(), named(name))]})


@bp.post(f"{MODEL}/reviews")
@require_role("reviewer")
def review(name: str) -> Response:
    body = json_body()
    done = record_review(current_session(), actor=g.actor, model=named(name),
                         recommendation=text(body, "recommendation", SHORT),
                         tier=field(body, "tier", str, required=False),
                         rationale=text(body, "rationale", LONG))
    return created(review_json(done))


# -- the kill switch --------------------------------------------------------------------------------
@bp.post(f"{MODEL}/suspension")
@require_role("admin", "approver")
def suspend(name: str) -> Response:
    model = named(name)
    suspend_model(current_session(), actor=g.actor, model=model,
                  reason=text(json_body(), "reason", RATIONALE))
    return jsonify(model_state(model))


@bp.post(f"{MODEL}/suspension/lift")
@require_role("admin", "approver")
def lift(name: str) -> Response:
    model = named(name)
    lift_suspension(current_session(), actor=g.actor, model=model,
                    reason=text(json_body(), "reason", RATIONALE))
    return jsonify(model_state(model))


# -- the deployment protection check ----------------------------------------------------------------
def deployability_json(answer: Deployability) -> dict[str, Any]:
    return {"deployable": answer.deployable, "model": answer.model, "version": answer.version,
            "tier": answer.tier, "reasons": [{"code": r.code, "message": r.message} for r in answer.reasons],
            "sign_off": sign_off_json(answer.sign_off) if answer.sign_off else None,
            "checked_at": answer.checked_at}


@bp.get(f"{MODEL}/deployable")
@require_role(*ANY_ROLE)
def check_deployable(name: str) -> Answer:
    """200 with `deployable` true or false; with `strict=1`, a release that may not go out is a 409
    problem carrying the same fields, so `curl --fail` stops a pipeline."""
    tier = request.args.get("tier", "")
    version = request.args.get("version") or None
    if not tier or len(tier) > SHORT or (version is not None and len(version) > SHORT):
        raise InvalidInput(f"give the tier (?tier=...), and any version, in 1 to {SHORT} characters",
                           code="invalid_field")
    answer = deployable(current_session(), name=name, tier=tier, version=version, now=utcnow(),
                        facts=current_live_facts())
    payload = deployability_json(answer)
    if not answer.deployable and request.args.get("strict", "").lower() in TRUE:
        reasons = "; ".join(reason.message for reason in answer.reasons)
        return problem(409, "not_deployable", f"{name} may not go out to {tier}: {reasons}", **payload)
    return json_response(payload)
