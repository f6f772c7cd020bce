"""Signed exports: the decision log and the audit trail, streamed, and their manifests.

GET /v1/decisions/export and /v1/audit/export answer with the file as it is produced; its manifest
(row count, SHA-256, filters, signature) exists once the last byte has gone out, at
GET /v1/exports/<id>/manifest (the id is in the X-Govern-Export-Id header).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Blueprint, Flask, Response, current_app, g, jsonify, request, stream_with_context

from govern.api.auth import require_role
from govern.api.decisions import api_filter
from govern.audit.export_files import Export, check_format, find_manifest
from govern.audit.signing import public_pem, signing_key
from govern.audit.trail_export import export_trail
from govern.config import Settings
from govern.decisions.export import export_decisions
from govern.extensions import current_session

bp = Blueprint("exports", __name__, url_prefix="/v1")

READERS = ("admin", "auditor")


def server_key(app: Flask) -> Ed25519PrivateKey:
    settings: Settings = app.extensions["govern.settings"]
    return signing_key(settings.instance_path, settings.signing_key)


def streamed(export: Export, manifest_url: str) -> Response:
    """The export as a streamed download; the generator runs inside the request's context."""
    return Response(stream_with_context(export.chunks), mimetype=export.media_type, headers={
        "Content-Disposition": f'attachment; filename="{export.filename}"',
        "X-Govern-Export-Id": export.export_id,
        "Link": f'<{manifest_url}>; rel="describedby"',
    })


def manifest_url(export_id: str) -> str:
    return f"/v1/exports/{export_id}/manifest"


@bp.get("/decisions/export")
@require_role(*READERS)
def decisions() -> Response:
    fmt = check_format(request.args.get("format", "jsonl"))
    where = api_filter(current_session(), request.args)
    export = export_decisions(current_session(), where, fmt=fmt, actor=g.actor,
                              key=server_key(current_app))
    return streamed(export, manifest_url(export.export_id))


@bp.get("/audit/export")
@require_role(*READERS)
def audit() -> Response:
    fmt = check_format(request.args.get("format", "jsonl"))
    export = export_trail(current_session(), fmt=fmt, actor=g.actor, key=server_key(current_app))
    return streamed(export, manifest_url(export.export_id))


@bp.get("/exports/<export_id>/manifest")
@require_role(*READERS)
def manifest(export_id: str) -> Response:
    return jsonify(find_manifest(current_session(), export_id))


@bp.get("/exports/public-key")
def public_key() -> Response:
    """The key manifests are signed with; public, so anyone holding an export can check it."""
    return Response(public_pem(server_key(current_app)), mimetype="application/x-pem-file")
