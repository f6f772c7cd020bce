"""The server's Ed25519 signing key, and signing and checking export manifests.

The key comes from GOVERN_SIGNING_KEY (a PEM private key, or the base64 of its 32-byte seed) or is
generated once into the instance folder (mode 0600). A manifest is signed over its canonical JSON
(sorted keys, no spaces, UTF-8) without the `signature` field; it names the signer by the
fingerprint of the public key, `SHA256:` + hex SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from govern.errors import ConfigError, InvalidInput

KEY_FILE = "signing_key.pem"


class ExportInvalid(InvalidInput):
    """An export or its manifest does not check out; the message says which check failed."""

    code = "export_invalid"


def _from_setting(value: str) -> Ed25519PrivateKey:
    try:
        if value.lstrip().startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(value.encode(), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return key
        return Ed25519PrivateKey.from_private_bytes(base64.b64decode(value, validate=True))
    except (ValueError, TypeError, binascii.Error):
        raise ConfigError("GOVERN_SIGNING_KEY must be an Ed25519 private key in PEM, "
                          "or the base64 of its 32-byte seed") from None


def signing_key(instance_path: Path, setting: str | None) -> Ed25519PrivateKey:
    """The server's private key: from the setting, else the instance folder's (made on first use)."""
    if setting:
        return _from_setting(setting)
    path = instance_path / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker made it first; use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return _from_setting(path.read_text())


def public_pem(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "SHA256:" + hashlib.sha256(raw).hexdigest()


def load_public_key(pem: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise ExportInvalid("the public key is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ExportInvalid("the public key is not an Ed25519 key")
    return key


def canonical(manifest: dict[str, Any]) -> bytes:
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_manifest(manifest: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """The manifest with the signer's public key, its fingerprint and the signature added."""
    signed = {**manifest, "public_key": public_pem(key), "public_key_fingerprint": fingerprint(key)}
    signed["signature"] = base64.b64encode(key.sign(canonical(signed))).decode()
    return signed


def check_signature(manifest: dict[str, Any], trusted: Ed25519PublicKey | None) -> str:
    """The signer's fingerprint if the manifest is signed by `trusted` (or, when None, by the key
    it carries); raises ExportInvalid otherwise."""
    try:
        carried = load_public_key(str(manifest["public_key"]))
        signature = base64.b64decode(str(manifest["signature"]), validate=True)
    except (KeyError, binascii.Error):
        raise ExportInvalid("the manifest has no readable public_key or signature") from None
    if manifest.get("public_key_fingerprint") != fingerprint(carried):
        raise ExportInvalid("the manifest's public_key_fingerprint is not that of its public_key")
    key = trusted or carried
    if fingerprint(key) != fingerprint(carried):
        raise ExportInvalid(f"the manifest is signed by {fingerprint(carried)}, "
                            f"not by the given public key {fingerprint(key)}")
    try:
        key.verify(signature, canonical(manifest))
    except InvalidSignature:
        raise ExportInvalid("the manifest's signature does not match its contents (edited?)") from None
    return fingerprint(key)
