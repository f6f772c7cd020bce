"""Bearer JWTs (OAuth 2.0 access tokens or OIDC ID tokens) from trusted issuers.

A token is checked in this order, and the first failure is its reason: shape, algorithm family,
issuer, the issuer's algorithm allow-list, signing key, signature, time claims (with CLOCK_SKEW),
audience, subject. Only then do the issuer's claim rules give it a tier.

A caller sends the same token for many requests, so a verified token is remembered until it
expires: a repeat costs a dict lookup instead of a signature check. The memory is emptied whenever
the issuer configuration changes.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, JoseError
from joserfc.jwt import JWTClaimsRegistry

from govern.identity.directory import AuthFailure
from govern.identity.issuer_config import ALLOWED_ALGORITHMS, IssuerConfig
from govern.identity.issuer_keys import IssuerKeys, KeysUnavailable, UnknownKey
from govern.types import Reason

CLOCK_SKEW = 30  # seconds a token's times may be off from ours
MAX_TOKEN_LENGTH = 16 * 1024
# Past this many remembered tokens the memory starts again from empty (bounded, like the key cache).
MAX_REMEMBERED = 50_000
SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True, slots=True)
class Identity:
    """A verified token's holder, with the tier the issuer's claim rules give it."""

    issuer: str
    subject: str
    tier: str
    claims: dict[str, Any]


def looks_like_jwt(credential: str) -> bool:
    """Three base64url segments separated by dots (the compact JWS form); API keys never are."""
    parts = credential.split(".")
    return len(parts) == 3 and bool(SEGMENT.match(parts[0])) and bool(SEGMENT.match(parts[1]))


def _segment_json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (binascii.Error, ValueError):
        raise AuthFailure(Reason.TOKEN_MALFORMED, None) from None
    if not isinstance(value, dict):
        raise AuthFailure(Reason.TOKEN_MALFORMED, None)
    return value


class TokenVerifier:
    """Verifies tokens against the configured issuers. `configure` swaps the configuration in by
    reference (the runtime's watcher calls it) and keeps the key caches of issuers that stay."""

    def __init__(self) -> None:
        self._issuers: dict[str, tuple[IssuerConfig, IssuerKeys]] = {}
        self._verified: dict[str, tuple[Identity, float, IssuerConfig]] = {}

    def configure(self, configs: Iterable[IssuerConfig]) -> None:
        current = self._issuers
        self._issuers = {
            config.issuer: (config, current[config.issuer][1] if config.issuer in current
                            else IssuerKeys(config.issuer))
            for config in configs if config.enabled
        }
        self._verified = {}

    def keys_of(self, issuer: str) -> IssuerKeys | None:
        entry = self._issuers.get(issuer)
        return entry[1] if entry else None

    def verify(self, token: str, now: float) -> Identity:
        """The identity of a valid token, or AuthFailure with the precise reason."""
        remembered = self._verified.get(token)
        if remembered is not None:
            identity, expires, config = remembered
            entry = self._issuers.get(identity.issuer)
            # Still unexpired, and verified under the configuration in force (not one replaced since).
            if now - CLOCK_SKEW < expires and entry is not None and entry[0] is config:
                return identity
        identity, expires, config = self._verify(token, now)
        verified = self._verified
        if len(verified) >= MAX_REMEMBERED:
            verified = self._verified = {}
        verified[token] = (identity, expires, config)
        return identity

    def _verify(self, token: str, now: float) -> tuple[Identity, float, IssuerConfig]:
        if len(token) > MAX_TOKEN_LENGTH or not looks_like_jwt(token):
            raise AuthFailure(Reason.TOKEN_MALFORMED, None)
        header_segment, payload_segment, _ = token.split(".")
        header = _segment_json(header_segment)
        unverified = _segment_json(payload_segment)
        alg = header.get("alg")
        if alg not in ALLOWED_ALGORITHMS:  # "none", HMAC and anything unknown
            raise AuthFailure(Reason.TOKEN_ALGORITHM, None)
        issuer = unverified.get("iss")
        entry = self._issuers.get(issuer) if isinstance(issuer, str) else None
        if entry is None:
            raise AuthFailure(Reason.TOKEN_ISSUER, None)
        config, keys = entry
        if alg not in config.algorithms:
            raise AuthFailure(Reason.TOKEN_ALGORITHM, None, issuer=config.issuer)
        kid = header.get("kid")
        try:
            key = keys.key(kid if isinstance(kid, str) else None)
        except UnknownKey:
            raise AuthFailure(Reason.TOKEN_KEY_UNKNOWN, None, issuer=config.issuer) from None
        except KeysUnavailable:
            raise AuthFailure(Reason.TOKEN_KEYS_UNAVAILABLE, None, issuer=config.issuer) from None
        try:
            claims = jwt.decode(token, key, algorithms=[alg]).claims
        except BadSignatureError:
            raise AuthFailure(Reason.TOKEN_SIGNATURE, None, issuer=config.issuer) from None
        except (JoseError, ValueError, TypeError):
            raise AuthFailure(Reason.TOKEN_MALFORMED, None, issuer=config.issuer) from None
        return self._identity(config, claims, now)

    @staticmethod
    def _identity(config: IssuerConfig, claims: dict[str, Any],
                  now: float) -> tuple[Identity, float, IssuerConfig]:
        subject = claims.get("sub")
        known_subject = subject if isinstance(subject, str) and 0 < len(subject) <= 255 else None

        def refuse(reason: Reason) -> AuthFailure:
            return AuthFailure(reason, None, issuer=config.issuer, subject=known_subject)

        registry = JWTClaimsRegistry(now=int(now), leeway=CLOCK_SKEW, exp={"essential": True})
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise refuse(Reason.TOKEN_EXPIRED) from None
        except ClaimError as error:
            # A numeric nbf/iat that fails is in the future; any other claim error is a bad token.
            timing = error.claim in ("nbf", "iat") and _numeric(claims.get(error.claim))
            raise refuse(Reason.TOKEN_NOT_YET_VALID if timing else Reason.TOKEN_MALFORMED) from None
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or not set(config.audiences) & {
                a for a in audiences if isinstance(a, str)}:
            raise refuse(Reason.TOKEN_AUDIENCE)
        if known_subject is None:
            raise refuse(Reason.TOKEN_MALFORMED)
        identity = Identity(config.issuer, known_subject, config.tier_for(claims), claims)
        return identity, float(claims["exp"]), config


def _numeric(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
