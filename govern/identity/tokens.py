"""API key format: `gvk_<12 hex id>_<43-char secret>`. The `gvk_<id>` part is the visible prefix
that identifies the key in lists and logs; only a SHA-256 digest of the whole key is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SCHEME = "gvk"
ID_HEX = 12


def new_key() -> tuple[str, str]:
    """A fresh (prefix, full key) pair: 48-bit public id, 256-bit secret."""
    prefix = f"{SCHEME}_{secrets.token_hex(ID_HEX // 2)}"
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def key_digest(full_key: str) -> str:
    # The secret has 256 bits of entropy, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(full_key.encode()).hexdigest()


def prefix_of(full_key: str) -> str | None:
    """The visible prefix of a well-formed key, or None."""
    scheme, _, rest = full_key.partition("_")
    ident, _, secret = rest.partition("_")
    if scheme != SCHEME or len(ident) != ID_HEX or not secret:
        return None
    return f"{SCHEME}_{ident}"


def digest_matches(full_key: str, digest: str) -> bool:
    return hmac.compare_digest(key_digest(full_key), digest)
