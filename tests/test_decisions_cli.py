"""`govern decisions export | public-key | verify-export` and `govern audit export`: a file and its
signed manifest, checked offline; a changed byte, an edited manifest or another key fail in one line."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from factories import insert_decisions

from govern.audit.signing import sign_manifest

START = datetime(2030, 5, 1, tzinfo=UTC)


def exported(govern, tmp_path: Path, *args: str, name: str = "decisions.csv") -> tuple[Path, Path]:
    output = tmp_path / name
    result = govern("decisions", "export", "-o", str(output), *args)
    assert result.exit_code == 0, result.output
    manifest = tmp_path / f"{name}.manifest.json"
    assert result.stdout.endswith(f"written to {output}; signed manifest in {manifest}\n")
    return output, manifest


def public_key(govern, tmp_path: Path) -> Path:
    result = govern("decisions", "public-key")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("-----BEGIN PUBLIC KEY-----\n")
    path = tmp_path / "govern.pub.pem"
    path.write_text(result.stdout)
    return path


def verify(govern, *args: Path | str):  # type: ignore[no-untyped-def]
    return govern("decisions", "verify-export", *map(str, args))


def test_export_then_verify_with_the_published_key(govern, session, tmp_path):
    insert_decisions(session, 30, start=START)
    insert_decisions(session, 4, start=START + timedelta(hours=1), model="frontier-1")
    output, manifest = exported(govern, tmp_path, "--format", "csv", "--model", "frontier-1")

    result = verify(govern, output, manifest, "--public-key", public_key(govern, tmp_path))

    assert result.exit_code == 0, result.output
    fingerprint = json.loads(manifest.read_text())["public_key_fingerprint"]
    assert result.output == f"export OK: 4 decisions rows, signed by {fingerprint}\n"
    assert len(output.read_text().splitlines()) == 5


def test_export_of_the_decisions_nobody_received(govern, session, tmp_path):
    insert_decisions(session, 3, start=START)
    late = insert_decisions(session, 2, start=START + timedelta(hours=1), delivered=False)
    output, manifest = exported(govern, tmp_path, "--delivered", "false", name="late.jsonl")

    rows = [json.loads(line) for line in output.read_text().splitlines()]

    assert [(row["decision_id"], row["delivered"]) for row in rows] == [(late[0], False), (late[1], False)]
    assert json.loads(manifest.read_text())["filters"] == {"delivered": False}
    assert verify(govern, output, manifest, "--public-key", public_key(govern, tmp_path)).exit_code == 0


def test_verify_without_a_key_names_the_carried_key(govern, session, tmp_path):
    insert_decisions(session, 3, start=START)
    output, manifest = exported(govern, tmp_path, name="d.jsonl")

    result = verify(govern, output, manifest)

    assert result.exit_code == 0, result.output
    assert result.output.endswith("(the key the manifest carries; pin it with --public-key)\n")


def test_one_changed_byte_fails(govern, session, tmp_path):
    insert_decisions(session, 3, start=START)
    output, manifest = exported(govern, tmp_path)
    data = bytearray(output.read_bytes())
    data[-5] = ord("9") if data[-5] != ord("9") else ord("8")
    output.write_bytes(bytes(data))

    result = verify(govern, output, manifest)

    assert result.exit_code == 1
    assert result.output == ("Error: decisions.csv does not match the manifest's SHA-256 "
                             "(changed or truncated)\n")


def test_edited_manifest_fails(govern, session, tmp_path):
    insert_decisions(session, 3, start=START)
    output, manifest = exported(govern, tmp_path)
    document = json.loads(manifest.read_text())
    document["filters"] = {"model": "open-7b"}
    manifest.write_text(json.dumps(document))

    result = verify(govern, output, manifest)

    assert result.exit_code == 1
    assert result.output == "Error: the manifest's signature does not match its contents (edited?)\n"


def test_another_public_key_fails(govern, session, tmp_path):
    insert_decisions(session, 3, start=START)
    output, manifest = exported(govern, tmp_path)
    other = tmp_path / "other.pem"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))

    result = verify(govern, output, manifest, "--public-key", other)

    assert result.exit_code == 1
    assert "is signed by SHA256:" in result.output and "not by the given public key" in result.output


def test_the_signing_key_is_made_once_and_private(govern, instance, tmp_path):
    first = govern("decisions", "public-key").stdout
    second = govern("decisions", "public-key").stdout

    assert first == second
    assert (instance / "signing_key.pem").stat().st_mode & 0o777 == 0o600


def test_signing_key_from_the_environment(govern, monkeypatch, instance):
    seed = bytes(range(32))
    monkeypatch.setenv("GOVERN_SIGNING_KEY", base64.b64encode(seed).decode())
    expected = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    assert govern("decisions", "public-key").stdout == expected
    assert not (instance / "signing_key.pem").exists()


def test_audit_export_verifies_with_its_hash_chain(govern, session, tmp_path):
    output = tmp_path / "audit.jsonl"
    made = govern("audit", "export", "-o", str(output))
    assert made.exit_code == 0, made.output  # the template trail holds event 1, the seeded policy

    result = verify(govern, output, tmp_path / "audit.jsonl.manifest.json")

    assert result.exit_code == 0, result.output
    assert result.output.startswith("export OK: 1 audit rows, hash chain intact, signed by SHA256:")


def test_audit_export_with_an_edited_event_fails(govern, session, tmp_path):
    output = tmp_path / "audit.csv"
    govern("audit", "export", "-o", str(output), "--format", "csv")
    manifest_path = tmp_path / "audit.csv.manifest.json"
    # A forger who re-signs with their own key still cannot fix the chain.
    text = output.read_text().replace("policy.change", "policy.chanGE", 1)
    output.write_text(text)
    document = json.loads(manifest_path.read_text())
    document.update(sha256=hashlib.sha256(output.read_bytes()).hexdigest(), bytes=len(output.read_bytes()))
    forged = sign_manifest({k: v for k, v in document.items() if k != "signature"},
                           Ed25519PrivateKey.generate())
    manifest_path.write_text(json.dumps(forged))

    result = verify(govern, output, manifest_path)

    assert result.exit_code == 1
    assert result.output == "Error: event 1: contents do not match its hash\n"
