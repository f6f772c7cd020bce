"""Signed exports over HTTP: GET /v1/decisions/export and /v1/audit/export stream the file, the
manifest is signed with the server's Ed25519 key, and the file checks out offline; a changed byte
or an edited manifest does not. Every export is on the audit trail."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from factories import insert_decisions, make_key, make_signed_model, report_usage
from sqlalchemy import select

from govern.audit.export_files import read_rows, verify_export
from govern.audit.signing import ExportInvalid, load_public_key
from govern.audit.trail_export import check_chain
from govern.governance.signoffs import reverse_sign_off
from govern.models import AuditEvent

ROOT = Path(__file__).resolve().parents[2]
START = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
CSV_HEADER = ("decision_id,created_at,request_id,org_id,key_prefix,tier,model,capability,allow,reason,"
              "policy_version,latency_us,pep_prefix,issuer,subject,org_name,sign_off_id,attempts,delivered,"
              "input_tokens,output_tokens,cost\r\n")


def download(client, path: str, headers: dict[str, str], **query: Any) -> tuple[bytes, dict[str, Any]]:
    """(file bytes, signed manifest) of one export."""
    response = client.get(path, query_string=query, headers=headers)
    assert response.status_code == 200, response.data
    body = response.get_data()
    export_id = response.headers["X-Govern-Export-Id"]
    assert response.headers["Link"] == f'</v1/exports/{export_id}/manifest>; rel="describedby"'
    manifest = client.get(f"/v1/exports/{export_id}/manifest", headers=headers)
    assert manifest.status_code == 200, manifest.json
    return body, manifest.json


def saved(tmp_path: Path, body: bytes, manifest: dict[str, Any], name: str = "export") -> tuple[Path, Path]:
    file, manifest_file = tmp_path / name, tmp_path / f"{name}.manifest.json"
    file.write_bytes(body)
    manifest_file.write_text(json.dumps(manifest))
    return file, manifest_file


def server_public_key(client) -> Any:
    response = client.get("/v1/exports/public-key")
    assert response.status_code == 200
    assert response.mimetype == "application/x-pem-file"
    return load_public_key(response.get_data(as_text=True))


@pytest.fixture
def decisions(session) -> list[str]:
    """Five allows for acme (org 1), then two denies for org 2, a minute apart from START."""
    made = insert_decisions(session, 5, start=START, step=timedelta(minutes=1))
    made += insert_decisions(session, 2, start=START + timedelta(minutes=5), step=timedelta(minutes=1),
                             org_id=2, allow=False, reason="tier_too_low", model="frontier-1")
    return made


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_carries_each_decisions_usage(client, session, decisions, auditor, tmp_path, fmt):
    report_usage(session, decisions[1], 1200, 350, "0.0042")
    report_usage(session, decisions[3], 7, 0)

    body, manifest = download(client, "/v1/decisions/export", auditor, format=fmt, result="allow")
    file, _ = saved(tmp_path, body, manifest)

    used = [(row["input_tokens"], row["output_tokens"], row["cost"]) for row in read_rows(file, fmt)]
    if fmt == "csv":
        assert used == [("", "", ""), ("1200", "350", "0.004200000"), ("", "", ""), ("7", "0", ""),
                        ("", "", "")]
    else:
        assert used == [(None, None, None), (1200, 350, "0.004200000"), (None, None, None), (7, 0, None),
                        (None, None, None)]


def test_csv_export_holds_the_filtered_rows_oldest_first(client, decisions, auditor):
    body, manifest = download(client, "/v1/decisions/export", auditor, format="csv", result="deny")

    lines = body.decode().split("\r\n")
    assert lines[0] + "\r\n" == CSV_HEADER
    assert lines[1:] == [
        f"{decisions[5]},2030-03-01T12:05:00+00:00,,2,gvk_0123456789ab,verified,frontier-1,generate,false,"
        "tier_too_low,1,250,,,,,,1,true,,,",
        f"{decisions[6]},2030-03-01T12:06:00+00:00,,2,gvk_0123456789ab,verified,frontier-1,generate,false,"
        "tier_too_low,1,250,,,,,,1,true,,,",
        "",
    ]
    assert manifest["row_count"] == 2
    assert manifest["filters"] == {"allow": False}
    assert manifest["kind"] == "decisions"
    assert manifest["file_format"] == "csv"
    assert manifest["govern_version"] == "0.1.0"
    assert manifest["exported_by"] == "user:audrey"
    assert manifest["first"] == {"id": decisions[5], "created_at": "2030-03-01T12:05:00+00:00"}


def test_jsonl_export_with_a_time_window(client, decisions, admin):
    body, manifest = download(client, "/v1/decisions/export", admin, since="2030-03-01T12:01:00Z",
                              until="2030-03-01T12:03:00Z")

    rows = [json.loads(line) for line in body.splitlines()]
    assert [row["decision_id"] for row in rows] == decisions[1:3]
    assert rows[0] == {"decision_id": decisions[1], "created_at": "2030-03-01T12:01:00+00:00",
                       "request_id": None, "org_id": 1, "key_prefix": "gvk_0123456789ab",
                       "tier": "verified", "model": "chat-standard", "capability": "generate",
                       "allow": True, "reason": "granted_by_tier", "policy_version": 1, "latency_us": 250,
                       "pep_prefix": None, "issuer": None, "subject": None, "org_name": None,
                       "sign_off_id": None, "attempts": 1, "delivered": True,
                       "input_tokens": None, "output_tokens": None, "cost": None}
    assert manifest["time_range"] == {"since": "2030-03-01T12:01:00+00:00",
                                      "until": "2030-03-01T12:03:00+00:00"}
    assert manifest["row_count"] == 2


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trip_verifies_offline(client, decisions, auditor, tmp_path, fmt):
    body, manifest = download(client, "/v1/decisions/export", auditor, format=fmt)
    file, _ = saved(tmp_path, body, manifest)

    checked = verify_export(file, manifest, server_public_key(client))

    assert (checked.kind, checked.rows) == ("decisions", 7)
    assert checked.fingerprint == manifest["public_key_fingerprint"]
    assert checked.fingerprint.startswith("SHA256:") and len(checked.fingerprint) == 7 + 64


@pytest.fixture
def traced(app, client, session) -> tuple[int, list[str]]:
    """(sign-off id, decision ids): acme is allowed gpt-x under its sign-off, then denied after the
    board reverses it."""
    key = make_key(session, "acme", tier="verified")
    model, signed = make_signed_model(session, "gpt-x")
    made = []
    for step in ("under", "after"):
        if step == "after":
            reverse_sign_off(session, actor="user:board", model=model, sign_off_id=signed.id,
                             rationale="risk")
        app.extensions["govern.runtime"].get().refresh()
        response = client.post("/v1/check", json={"model": "gpt-x", "capability": "generate"},
                               headers={"Authorization": f"Bearer {key}"})
        made.append(response.json["decision_id"])
    return signed.id, made


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_export_carries_the_sign_off_and_organisation_name_and_still_verifies(client, traced, auditor,
                                                                                tmp_path, fmt):
    sign_off_id, (under, after) = traced
    body, manifest = download(client, "/v1/decisions/export", auditor, format=fmt, model="gpt-x")
    file, _ = saved(tmp_path, body, manifest)

    rows = list(read_rows(file, fmt))

    assert manifest["columns"][-7:] == ["org_name", "sign_off_id", "attempts", "delivered", "input_tokens",
                                        "output_tokens", "cost"]
    expected = ([(under, "true", "acme", str(sign_off_id)), (after, "false", "acme", "")] if fmt == "csv"
                else [(under, True, "acme", sign_off_id), (after, False, "acme", None)])
    assert [(r["decision_id"], r["allow"], r["org_name"], r["sign_off_id"]) for r in rows] == expected
    assert verify_export(file, manifest, server_public_key(client)).rows == 2


def test_one_changed_byte_fails_verification(client, decisions, auditor, tmp_path):
    body, manifest = download(client, "/v1/decisions/export", auditor, format="csv")
    changed = bytearray(body)
    changed[len(CSV_HEADER) + 40] ^= 0x01
    file, _ = saved(tmp_path, bytes(changed), manifest)

    with pytest.raises(ExportInvalid, match="does not match the manifest's SHA-256"):
        verify_export(file, manifest, server_public_key(client))


@pytest.mark.parametrize(("field", "value"), [("row_count", 6), ("sha256", "0" * 64),
                                                ("filters", {"model": "open-7b"})])
def test_edited_manifest_fails_verification(client, decisions, auditor, tmp_path, field, value):
    body, manifest = download(client, "/v1/decisions/export", auditor)
    file, _ = saved(tmp_path, body, manifest)

    with pytest.raises(ExportInvalid, match="signature does not match"):
        verify_export(file, {**manifest, field: value}, server_public_key(client))


def test_manifest_re_signed_by_another_key_fails_against_the_servers_key(client, decisions, auditor,
                                                                          tmp_path):
    from govern.audit.signing import sign_manifest

    body, manifest = download(client, "/v1/decisions/export", auditor)
    file, _ = saved(tmp_path, body, manifest)
    forged = sign_manifest({k: v for k, v in manifest.items()
                            if k not in ("signature", "public_key", "public_key_fingerprint")},
                           Ed25519PrivateKey.generate())

    with pytest.raises(ExportInvalid, match="not by the given public key"):
        verify_export(file, forged, server_public_key(client))


def test_export_is_streamed_batch_by_batch(client, session, auditor):
    insert_decisions(session, 12_001, start=START, step=timedelta(milliseconds=10))

    response = client.get("/v1/decisions/export?format=jsonl", headers=auditor)

    assert response.is_streamed
    export_id = response.headers["X-Govern-Export-Id"]
    chunks = iter(response.response)
    first = next(chunks)
    # One batch (5,000 rows) is out while the rest is not read yet: the export is still running.
    assert first.count(b"\n") == 5_000
    assert client.get(f"/v1/exports/{export_id}/manifest", headers=auditor).status_code == 404
    rest = b"".join(chunks)
    response.close()
    assert (first + rest).count(b"\n") == 12_001
    assert client.get(f"/v1/exports/{export_id}/manifest", headers=auditor).json["row_count"] == 12_001


def test_an_auditors_export_is_an_audit_event(client, session, decisions, auditor):
    body, manifest = download(client, "/v1/decisions/export", auditor, model="frontier-1")

    events = session.execute(select(AuditEvent).where(AuditEvent.target == f"export:{manifest['export_id']}")
                             .order_by(AuditEvent.id)).scalars().all()
    assert [(e.actor, e.action) for e in events] == [("user:audrey", "decisions.export"),
                                                     ("user:audrey", "export.signed")]
    assert events[0].after == {"export_id": manifest["export_id"], "format": "jsonl",
                               "filters": {"model": "frontier-1"},
                               "time_range": {"since": None, "until": None},
                               "last_decision_id_at_start": decisions[-1]}
    assert events[1].after == manifest


def test_audit_trail_export_re_verifies_its_hash_chain_offline(client, decisions, auditor, tmp_path):
    body, manifest = download(client, "/v1/audit/export", auditor, format="csv")
    file, _ = saved(tmp_path, body, manifest)

    checked = verify_export(file, manifest, server_public_key(client), check_rows=check_chain)

    assert checked.kind == "audit"
    assert checked.rows == manifest["row_count"] == manifest["last_event_id_at_start"]


def test_the_documented_standalone_snippet_checks_an_exported_trail(client, decisions, auditor, tmp_path):
    """docs/audit-export.md's script, run with the standard library only, outside govern."""
    body, manifest = download(client, "/v1/audit/export", auditor, format="jsonl")
    file, _ = saved(tmp_path, body, manifest)
    script = tmp_path / "verify_chain.py"
    script.write_text(documented_snippet())

    good = subprocess.run([sys.executable, "-I", str(script), str(file)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    lines = file.read_text().splitlines()
    lines[1] = lines[1].replace('"actor":"', '"actor":"x', 1)
    file.write_text("\n".join(lines) + "\n")
    bad = subprocess.run([sys.executable, "-I", str(script), str(file)], capture_output=True, text=True,
                         timeout=60, cwd=tmp_path)

    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == f"chain intact: {manifest['row_count']} events"
    assert bad.returncode == 1
    assert bad.stdout.strip() == "event 2: hash does not match its contents"


def documented_snippet() -> str:
    text = (ROOT / "docs" / "audit-export.md").read_text()
    start = text.index("```python\n") + len("```python\n")
    return text[start:text.index("```", start)]


def test_unknown_format_is_a_400(client, auditor):
    response = client.get("/v1/decisions/export?format=parquet", headers=auditor)

    assert response.status_code == 400
    assert response.json["code"] == "invalid_field"


def test_unknown_export_manifest_is_a_404(client, auditor):
    response = client.get("/v1/exports/nope/manifest", headers=auditor)

    assert response.status_code == 404
    assert response.json["code"] == "export_not_found"


def test_export_without_a_key_is_a_401(client):
    assert client.get("/v1/decisions/export").status_code == 401
    assert client.get("/v1/audit/export").status_code == 401
