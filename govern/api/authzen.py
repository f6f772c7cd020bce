"""The OpenID AuthZEN Authorization API 1.0: evaluation, evaluations (batch), search, metadata.

The caller is a policy enforcement point holding a `pep` key; it asks about a subject
(`api_key` by prefix, `organisation` by name, `identity` by subject and issuer), a resource of
type `model` and an action whose name is a capability. A deny, an unknown subject included, is an
answer (200, `"decision": false`); the enforcement point's own missing or bad key is a 401,
whatever the body; a malformed request is a 400 problem, but a malformed item of a batch is
answered in its place (closed, with its error). Every evaluation is in the decision log before it
is answered.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from govern.api.body import read_json
from govern.api.check import BATCH_BODY_LIMIT, CHECK_BODY_LIMIT, MAX_BATCH, REQUEST_ID, caller_key
from govern.api.check import request_id as checked_request_id
from govern.api.problems import CHALLENGE, json_response, problem
from govern.decisions import search
from govern.decisions.runtime import Outcome, SubjectQuestion
from govern.errors import InvalidInput, Unauthenticated
from govern.identity.directory import AuthFailure
from govern.identity.subjects import Subject
from govern.models.api_key import PEP
from govern.types import REASON_TEXT

if TYPE_CHECKING:
    from govern.api.plane import Plane

SEMANTICS: dict[str, bool | None] = {
    "execute_all": None,  # the spec's default
    "deny_on_first_deny": False,
    "permit_on_first_permit": True,
}
MAX_ID = 200


# -- parsing -------------------------------------------------------------------------------------
def _object(body: Mapping[str, Any], name: str, *, required: bool = True) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"{name!r} is required", code="missing_field")
        return None
    if not isinstance(value, dict):
        raise InvalidInput(f"{name!r} must be an object", code="invalid_field")
    return value


def _string(entity: Mapping[str, Any], owner: str, name: str, *, required: bool = True) -> str | None:
    value = entity.get(name)
    if value is None:
        if required:
            raise InvalidInput(f"'{owner}.{name}' is required", code="missing_field")
        return None
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise InvalidInput(f"'{owner}.{name}' must be a string of 1 to {MAX_ID} characters",
                           code="invalid_field")
    return value


def _properties(entity: Mapping[str, Any], owner: str) -> dict[str, Any]:
    value = entity.get("properties")
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(f"'{owner}.properties' must be an object", code="invalid_field")
    return value or {}


def _subject(body: Mapping[str, Any], *, id_required: bool = True) -> Subject:
    entity = _object(body, "subject")
    assert entity is not None
    subject_id = _string(entity, "subject", "id", required=id_required)
    return Subject(str(_string(entity, "subject", "type")), subject_id or "",
                   _properties(entity, "subject"))


def _resource(body: Mapping[str, Any], *, id_required: bool = True) -> tuple[str, str]:
    entity = _object(body, "resource")
    assert entity is not None
    _properties(entity, "resource")
    return str(_string(entity, "resource", "type")), _string(entity, "resource", "id",
                                                               required=id_required) or ""


def _action(body: Mapping[str, Any]) -> str:
    entity = _object(body, "action")
    assert entity is not None
    _properties(entity, "action")
    return str(_string(entity, "action", "name"))


def _evaluation(body: Mapping[str, Any]) -> SubjectQuestion:
    _object(body, "context", required=False)
    resource_type, model = _resource(body)
    return SubjectQuestion(_subject(body), resource_type, model, _action(body))


def _items(body: Mapping[str, Any]) -> list[SubjectQuestion | InvalidInput]:
    """The batch's items, each with the top-level defaults applied. An item that is malformed is
    kept as its error, to be answered in its place: it does not make the whole batch a 400."""
    if "evaluations" not in body:
        return []
    items = body["evaluations"]
    if not isinstance(items, list):
        raise InvalidInput("'evaluations' must be an array", code="invalid_field")
    if len(items) > MAX_BATCH:
        raise InvalidInput(f"'evaluations' may hold at most {MAX_BATCH} items", code="invalid_batch")
    defaults = {name: body[name] for name in ("subject", "action", "resource", "context") if name in body}
    # A malformed default is a mistake in the request as a whole, not in its items.
    for name, parse in (("subject", _subject), ("resource", _resource), ("action", _action)):
        if body.get(name) is not None:
            parse(body)
    _object(body, "context", required=False)
    parsed: list[SubjectQuestion | InvalidInput] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            parsed.append(InvalidInput(f"evaluations[{index}] must be an object", code="invalid_field"))
            continue
        try:
            # Each of subject, action, resource and context replaces the top-level default whole.
            parsed.append(_evaluation({**defaults, **item}))
        except InvalidInput as error:
            parsed.append(InvalidInput(f"evaluations[{index}]: {error.message}", code=error.code))
    return parsed


def _semantic(body: Mapping[str, Any]) -> bool | None:
    options = _object(body, "options", required=False) or {}
    name = options.get("evaluations_semantic", "execute_all")
    if not isinstance(name, str) or name not in SEMANTICS:
        raise InvalidInput(f"options.evaluations_semantic must be one of {', '.join(SEMANTICS)}",
                           code="invalid_field")
    return SEMANTICS[name]


def _request(request: Request, limit: int) -> tuple[str | None, dict[str, Any]]:
    """The caller's request id and JSON body (sent as application/json, as AuthZEN requires)."""
    return checked_request_id(request), read_json(request, limit, json_only=True)


# -- answers -------------------------------------------------------------------------------------
def _decision(outcome: Outcome, base_url: str) -> dict[str, Any]:
    context: dict[str, Any] = {
        "id": outcome.decision_id, "reason": outcome.reason.value,
        "reason_admin": {"en": REASON_TEXT[outcome.reason]},
        "tier": outcome.tier, "policy_version": outcome.policy_version,
    }
    if outcome.rule:
        context["rule"] = outcome.rule
    handle = outcome.access_request(base_url)
    if handle is not None:
        context["access_request"] = handle  # for the subject, to ask with its own credential
    return {"decision": outcome.allow, "context": context}


def _failed(error: InvalidInput) -> dict[str, Any]:
    """A batch item that could not be evaluated: closed, with its error [Access Evaluations API,
    Errors]. It is not a decision, so it has no decision id and no row in the log."""
    return {"decision": False,
            "context": {"error": {"status": error.status, "code": error.code, "message": error.message}}}


def _answer(outcomes: list[Outcome], payload: object) -> Response:
    first = outcomes[0]
    if first.authenticated:
        return json_response(payload)
    response = problem(401, first.reason.value, first.message, decision_id=first.decision_id)
    response.headers["WWW-Authenticate"] = CHALLENGE
    return response


def _evaluate(plane: Plane, request: Request, questions: list[SubjectQuestion], rid: str | None,
              started: float, stop_on: bool | None = None) -> list[Outcome]:
    return plane.runtime().evaluate(caller_key(request.headers), questions, request_id=rid,
                                    started=started, stop_on=stop_on, source=request.remote_addr)


def _refusal(plane: Plane, request: Request, error: InvalidInput, started: float) -> Response:
    """A malformed request is a 400 only for an enforcement point that authenticated: any other
    caller gets its 401 (logged, as when the request is well formed) [Sender Authentication Failure]."""
    if _pep_failure(plane, request) is None:
        raise error
    rid = request.headers.get("X-Request-ID")
    return _unauthenticated(plane, request, rid if rid and REQUEST_ID.match(rid) else None, started)


def _unauthenticated(plane: Plane, request: Request, rid: str | None, started: float) -> Response:
    """The 401 for a request with nothing to evaluate, logged without a question."""
    return _answer(_evaluate(plane, request, [], rid, started), None)


def evaluation(plane: Plane, request: Request) -> Response:
    started = time.perf_counter()
    try:
        rid, body = _request(request, CHECK_BODY_LIMIT)
        asked = _evaluation(body)
    except InvalidInput as error:
        return _refusal(plane, request, error, started)
    outcomes = _evaluate(plane, request, [asked], rid, started)
    return _answer(outcomes, _decision(outcomes[0], plane.settings.public_url))


def evaluations(plane: Plane, request: Request) -> Response:
    started = time.perf_counter()
    try:
        rid, body = _request(request, BATCH_BODY_LIMIT)
        stop_on = _semantic(body)
        items = _items(body)
        # Without evaluations (or with none) the request is a single evaluation, answered like one.
        single = None if items else _evaluation(body)
    except InvalidInput as error:
        return _refusal(plane, request, error, started)
    if single is not None:
        outcomes = _evaluate(plane, request, [single], rid, started)
        return _answer(outcomes, _decision(outcomes[0], plane.settings.public_url))
    return _batch(plane, request, items, rid, started, stop_on)


def _batch(plane: Plane, request: Request, items: list[SubjectQuestion | InvalidInput], rid: str | None,
           started: float, stop_on: bool | None) -> Response:
    """Each item's answer in order: its decision, or its error in place."""
    if stop_on is False:
        # deny_on_first_deny: an item in error is a denial, so nothing after it is evaluated.
        first_error = next((i for i, item in enumerate(items) if isinstance(item, InvalidInput)), None)
        items = items if first_error is None else items[:first_error + 1]
    questions = [item for item in items if isinstance(item, SubjectQuestion)]
    if not questions and _pep_failure(plane, request) is not None:
        return _unauthenticated(plane, request, rid, started)
    outcomes = _evaluate(plane, request, questions, rid, started, stop_on) if questions else []
    if outcomes and not outcomes[0].authenticated:
        return _answer(outcomes, None)
    decided = iter(outcomes)
    answers = []
    for item in items:
        if isinstance(item, InvalidInput):
            answers.append(_failed(item))
            continue
        outcome = next(decided)
        answers.append(_decision(outcome, plane.settings.public_url))
        if outcome.allow is stop_on:
            break  # the short-circuit semantics stop at the first answer equal to it
    return json_response({"evaluations": answers})


# -- search --------------------------------------------------------------------------------------
def _pep_failure(plane: Plane, request: Request) -> AuthFailure | None:
    """Why the caller is not an authenticated enforcement point, or None if it is."""
    try:
        # Read afresh, as for evaluations: a search lists every key's tier; a suspension stops it at once.
        plane.runtime().keys.authenticate(caller_key(request.headers), time.time(), PEP, fresh=True)
    except AuthFailure as failure:
        return failure
    return None


def _authenticated_pep(plane: Plane, request: Request) -> None:
    """Searches answer only an enforcement point, like evaluations (but leave no decision rows)."""
    failure = _pep_failure(plane, request)
    if failure is not None:
        raise Unauthenticated(failure.message, code=failure.reason.value)


def _paged(body: Mapping[str, Any], results: list[dict[str, Any]]) -> Response:
    paging = _object(body, "page", required=False) or {}
    token = paging.get("token")
    limit = paging.get("limit")
    if token is not None and not isinstance(token, str):
        raise InvalidInput("'page.token' must be a string", code="invalid_field")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)):
        raise InvalidInput("'page.limit' must be an integer", code="invalid_field")
    query = {name: value for name, value in body.items() if name != "page"}
    chunk, next_token = search.page(results, token=token or None, limit=limit,
                                    query_fingerprint=search.fingerprint(query))
    return json_response({"results": chunk,
                          "page": {"next_token": next_token, "count": len(chunk), "total": len(results)}})


def _search_body(plane: Plane, request: Request) -> dict[str, Any]:
    _authenticated_pep(plane, request)  # first: any other caller gets a 401, whatever it sent
    _, body = _request(request, CHECK_BODY_LIMIT)
    _object(body, "context", required=False)
    return body


def search_resource(plane: Plane, request: Request) -> Response:
    body = _search_body(plane, request)
    subject, capability = _subject(body), _action(body)
    resource_type, _ = _resource(body, id_required=False)
    found = search.resources(plane.runtime(), subject, resource_type, capability)
    return _paged(body, [{"type": resource_type, "id": model} for model in found])


def search_action(plane: Plane, request: Request) -> Response:
    body = _search_body(plane, request)
    subject = _subject(body)
    resource_type, model = _resource(body)
    found = search.actions(plane.runtime(), subject, resource_type, model)
    return _paged(body, [{"name": capability} for capability in found])


def search_subject(plane: Plane, request: Request) -> Response:
    body = _search_body(plane, request)
    subject = _subject(body, id_required=False)
    resource_type, model = _resource(body)
    capability = _action(body)
    found = search.subjects(plane.runtime(), subject.type, resource_type, model, capability)
    return _paged(body, [{"type": listed.subject.type, "id": listed.subject.id,
                          "properties": {"tier": listed.caller.tier}} for listed in found])


# -- discovery -----------------------------------------------------------------------------------
def configuration(plane: Plane, request: Request) -> Response:
    # From the configured public URL, never from the request's Host header (which a caller chooses).
    base = plane.settings.public_url
    return json_response({
        "policy_decision_point": base,
        "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
        "access_evaluations_endpoint": f"{base}/access/v1/evaluations",
        "search_subject_endpoint": f"{base}/access/v1/search/subject",
        "search_resource_endpoint": f"{base}/access/v1/search/resource",
        "search_action_endpoint": f"{base}/access/v1/search/action",
    })
