"""Operations: liveness, readiness and what this process answers with."""

from __future__ import annotations

import os
from importlib.metadata import version

from flask import Blueprint, current_app, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.wrappers import Response

from govern.api import runtime
from govern.api.auth import identify
from govern.api.problems import problem
from govern.decisions.metrics import exposition
from govern.errors import Forbidden
from govern.extensions import current_session
from govern.governance.live_checks import LiveFacts
from govern.notifications.escalation import live_facts

bp = Blueprint("ops", __name__)

VERSION = version("govern")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    try:
        current = runtime()
    except Exception:
        return problem(503, "not_ready", "the database cannot be reached or holds no policy yet")
    if not current.database_reachable():
        return problem(503, "database_unreachable", "the database cannot be reached")
    failure = current.snapshot_failure
    if current.snapshot is None:
        reason = f": {failure.reason}" if failure else ""
        return problem(503, "policy_not_loaded", f"no policy snapshot is loaded{reason}")
    if failure is not None:
        # 200, not 503: the last good policy still answers correctly, and taking every node out
        # of its load balancer over one bad version would stop all decisions. Monitoring reads
        # `status` (or the govern_policy_build_failed_version metric).
        return jsonify({"status": "degraded", "policy_version": current.snapshot.version,
                        "policy_failure": failure.as_dict()})
    return jsonify({"status": "ready", "policy_version": current.snapshot.version})


def decision_logging_health() -> tuple[bool, str]:
    """Whether this process can log decisions now, as /readyz judges it (the database reachable,
    a policy loaded) and with room in the decision log's queue; else why not."""
    try:
        current = runtime()
    except Exception:
        return False, "the database cannot be reached or holds no policy yet"
    if not current.database_reachable():
        return False, "the database cannot be reached"
    if current.snapshot is None:
        return False, "no policy snapshot is loaded"
    if current.log.depth >= current_app.extensions["govern.settings"].decision_log_queue_size:
        return False, "the decision log's queue is full"
    return True, ""


def current_live_facts() -> LiveFacts:
    """What the launch checklist's live checks need from the running service, now."""
    healthy, detail = decision_logging_health()
    return live_facts(current_session(), decision_logging=healthy, decision_logging_detail=detail,
                      feedback_intake=current_app.extensions["govern.settings"].feedback_intake)


OPS_ROLES = frozenset({"admin", "auditor"})


@bp.before_request
def guard() -> None:
    """With GOVERN_OPS_REQUIRE_KEY on, /metrics and /v1/status answer only an admin or auditor (a
    key, or a session); liveness and readiness stay open to load balancers."""
    if not current_app.extensions["govern.settings"].ops_require_key:
        return
    if request.endpoint in ("ops.prometheus_metrics", "ops.status"):
        _actor, roles, _by_session = identify()
        if not roles & OPS_ROLES:
            raise Forbidden("this needs the role admin or auditor", code="role_required")


@bp.get("/metrics")
def prometheus_metrics() -> Response:
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


@bp.get("/v1/status")
def status() -> Response:
    current = runtime()
    snapshot, failure = current.snapshot, current.snapshot_failure
    return jsonify({
        "version": VERSION,
        "policy_version": snapshot.version if snapshot else None,
        "policy_failure": failure.as_dict() if failure else None,
        "decision_log_queue_depth": current.log.depth,
        "pid": os.getpid(),
    })
