"""Webhook signing secrets: made with `secrets`, shown once, kept encrypted.

A signing secret has to be recoverable (the dispatcher signs with it), so unlike an API key it
cannot be kept as a digest. It is sealed with Fernet (AES-128-CBC and HMAC-SHA256) under a key
derived from GOVERN_SECRET_KEY: a copy of the database alone does not reveal it. Changing
GOVERN_SECRET_KEY makes the sealed secrets unreadable; their endpoints must be given new ones."""

from __future__ import annotations

import base64
import hashlib
import secrets

from cryptography.fernet import Fernet, InvalidToken

from govern.errors import ConfigError

PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """`whsec_` and 256 random bits in base64, the form Standard Webhooks libraries read."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"govern webhook secrets\0" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(secret: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def unseal(sealed: str, secret_key: str) -> str:
    """Raises ConfigError when GOVERN_SECRET_KEY is not the one the secret was sealed under."""
    try:
        return _fernet(secret_key).decrypt(sealed.encode()).decode()
    except InvalidToken:
        raise ConfigError("a webhook secret cannot be read with this GOVERN_SECRET_KEY (was it "
                          "changed?); give the endpoint a new secret") from None
