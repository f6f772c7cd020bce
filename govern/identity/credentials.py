"""Who is asking for a decision: one resolver for every decision endpoint.

A credential shaped like a JWT is verified as a bearer token from a trusted issuer; anything else
is looked up as an API key. Either way the answer is a Principal with the tier the policy sees, or
an AuthFailure with the reason that goes into the decision log.
"""

from __future__ import annotations

from dataclasses import dataclass

from govern.identity.bearer_tokens import TokenVerifier, looks_like_jwt
from govern.identity.directory import KeyDirectory
from govern.models.api_key import CLIENT


@dataclass(frozen=True, slots=True)
class Principal:
    """An organisation's client key, or an identity (issuer + subject) mapped onto a tier."""

    tier: str | None
    tier_cap: str | None = None
    org_id: int | None = None
    org_name: str | None = None
    key_id: int | None = None
    key_prefix: str | None = None
    org_suspended: bool = False
    key_suspended: bool = False
    issuer: str | None = None
    subject: str | None = None

    @property
    def rate_limit_key(self) -> str:
        """What the rate limit counts against: the key, or the identity."""
        return self.key_prefix or f"{self.issuer} {self.subject}"


class CredentialResolver:
    def __init__(self, keys: KeyDirectory, tokens: TokenVerifier) -> None:
        self.keys = keys
        self.tokens = tokens

    def resolve(self, credential: str | None, now: float) -> Principal:
        """The principal behind `credential` (a client key or a bearer JWT); raises AuthFailure."""
        if credential and looks_like_jwt(credential):
            identity = self.tokens.verify(credential, now)
            return Principal(tier=identity.tier, issuer=identity.issuer, subject=identity.subject)
        entry = self.keys.authenticate(credential, now, CLIENT)
        return Principal(
            tier=entry.org_tier, tier_cap=entry.tier_cap, org_id=entry.org_id, org_name=entry.org_name,
            key_id=entry.key_id, key_prefix=entry.prefix, org_suspended=entry.org_suspended,
            key_suspended=entry.suspended,
        )
