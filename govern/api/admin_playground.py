"""Admin API for the decision playground: "would this caller be allowed?", answered with the reason,
the rule, the governance facts and the rate-limit counters, against the live policy or a draft.
It records no decision, counts nothing and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from govern.api import runtime
from govern.api.admin_body import json_body
from govern.api.auth import require_role
from govern.api.body import field
from govern.decisions.playground import Question, explain
from govern.extensions import current_session
from govern.policy.document import parse_document

bp = Blueprint("admin_playground", __name__, url_prefix="/v1/admin")
NAME_LENGTH = 200


@bp.post("/playground")
@require_role("admin", "auditor")
def ask() -> Response:
    body = json_body()
    question = Question(
        model=field(body, "model", str, max_length=NAME_LENGTH),
        capability=field(body, "capability", str, max_length=NAME_LENGTH),
        organisation=field(body, "organisation", str, required=False, max_length=NAME_LENGTH),
        key=field(body, "key", str, required=False, max_length=NAME_LENGTH),
        issuer=field(body, "issuer", str, required=False, max_length=NAME_LENGTH),
        claims=field(body, "claims", dict, required=False, default={}),
        tier=field(body, "tier", str, required=False, max_length=NAME_LENGTH),
    )
    draft = field(body, "document", dict, required=False)
    document = parse_document(draft) if draft is not None else None
    return jsonify(explain(current_session(), question, document,
                           limiter=runtime().rate_limiter).as_dict())
