"""Plain values shared by every layer: reason codes, callers, decisions.

Layer: bottom.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why a decision came out as it did. Stable codes: gateways and dashboards match on them."""

    GRANTED_BY_TIER = "granted_by_tier"
    TIER_TOO_LOW = "tier_too_low"
    NOT_GRANTED = "not_granted"
    DENIED_BY_RULE = "denied_by_rule"
    MODEL_BLOCKED = "model_blocked"
    UNKNOWN_MODEL = "unknown_model"
    UNKNOWN_CAPABILITY = "unknown_capability"
    UNKNOWN_TIER = "unknown_tier"
    ORG_SUSPENDED = "org_suspended"
    KEY_SUSPENDED = "key_suspended"
    KEY_MISSING = "key_missing"
    KEY_UNKNOWN = "key_unknown"
    KEY_REVOKED = "key_revoked"
    KEY_EXPIRED = "key_expired"
    KEY_WRONG_KIND = "key_wrong_kind"
    RATE_LIMITED = "rate_limited"
    UNKNOWN_SUBJECT = "unknown_subject"
    UNKNOWN_RESOURCE_TYPE = "unknown_resource_type"
    TOKEN_MALFORMED = "token_malformed"
    TOKEN_ISSUER = "token_issuer"
    TOKEN_ALGORITHM = "token_algorithm"
    TOKEN_KEY_UNKNOWN = "token_key_unknown"
    TOKEN_KEYS_UNAVAILABLE = "token_keys_unavailable"
    TOKEN_SIGNATURE = "token_signature"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_NOT_YET_VALID = "token_not_yet_valid"
    TOKEN_AUDIENCE = "token_audience"
    NOT_SIGNED_OFF = "not_signed_off"
    SIGNOFF_BELOW_TIER = "signoff_below_tier"
    MODEL_SUSPENDED = "model_suspended"
    MODEL_RETIRED = "model_retired"
    BUDGET_EXHAUSTED = "budget_exhausted"


REASON_TEXT: dict[Reason, str] = {
    Reason.GRANTED_BY_TIER: "a grant to the caller's tier (or a tier below it) allows this",
    Reason.TIER_TOO_LOW: "a higher tier is granted this, the caller's tier is not",
    Reason.NOT_GRANTED: "no tier is granted this capability on this model",
    Reason.DENIED_BY_RULE: "an explicit deny rule matches",
    Reason.MODEL_BLOCKED: "the model is blocked for everyone",
    Reason.UNKNOWN_MODEL: "the model is not in the policy",
    Reason.UNKNOWN_CAPABILITY: "the capability is not in the policy",
    Reason.UNKNOWN_TIER: "the caller's tier is not in the policy",
    Reason.ORG_SUSPENDED: "the caller's organisation is suspended",
    Reason.KEY_SUSPENDED: "the API key is suspended",
    Reason.KEY_MISSING: "no API key was sent (401)",
    Reason.KEY_UNKNOWN: "the API key is not known (401)",
    Reason.KEY_REVOKED: "the API key was revoked (401)",
    Reason.KEY_EXPIRED: "the API key has expired (401)",
    Reason.KEY_WRONG_KIND: "the key is of a kind this endpoint does not take (401)",
    Reason.RATE_LIMITED: "the key has used up the rate limit of its tier; retry later",
    Reason.UNKNOWN_SUBJECT: "the subject asked about is not known to govern (a deny)",
    Reason.UNKNOWN_RESOURCE_TYPE: "govern decides only about resources of type model (a deny)",
    Reason.TOKEN_MALFORMED: "the bearer token is not a well-formed JWT with a subject and an expiry (401)",
    Reason.TOKEN_ISSUER: "the token's issuer is not a trusted identity provider (401)",
    Reason.TOKEN_ALGORITHM: "the token's signing algorithm is not allowed for its issuer (401)",
    Reason.TOKEN_KEY_UNKNOWN: "the token was signed with a key its issuer does not publish (401)",
    Reason.TOKEN_KEYS_UNAVAILABLE: "the issuer's signing keys could not be fetched (401)",
    Reason.TOKEN_SIGNATURE: "the token's signature does not verify (401)",
    Reason.TOKEN_EXPIRED: "the token has expired (401)",
    Reason.TOKEN_NOT_YET_VALID: "the token is not valid yet (401)",
    Reason.TOKEN_AUDIENCE: "the token is not meant for govern: no accepted audience (401)",
    Reason.NOT_SIGNED_OFF: "the model is under governance and has no sign-off in force: top tier only",
    Reason.SIGNOFF_BELOW_TIER: "the model's sign-off opens it only to a higher tier than the caller's",
    Reason.MODEL_SUSPENDED: "the model is suspended (kill switch)",
    Reason.MODEL_RETIRED: "the model's version is retired: closed to every tier, its records kept",
    Reason.BUDGET_EXHAUSTED: "the organisation has used up a budget of its tier until its day or month ends",
}


@dataclass(frozen=True, slots=True)
class ModelAccess:
    """What governance allows for one model: the lowest tier its sign-off opens it to (None: no
    sign-off in force, so the top tier only), whether it is suspended for everyone, and the id of
    the sign-off that opens it (None exactly when open_from is), which every decision records;
    `retired`: its newest version is retired, so every tier is denied."""

    open_from: str | None
    suspended: bool
    sign_off_id: int | None = None
    retired: bool = False


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller of the decision endpoint, as the policy sees it."""

    org_id: int
    org_name: str
    key_id: int
    key_prefix: str
    tier: str
    org_suspended: bool
    key_suspended: bool
    tier_cap: str | None = None  # the key's, already applied to `tier`; no grant lifts it


@dataclass(frozen=True, slots=True)
class Verdict:
    """The policy's answer for one question. Only govern.policy builds one with allow=True."""

    allow: bool
    reason: Reason
    rule: str | None
    tier: str | None
    policy_version: int
    # The sign-off in force for the model in the snapshot that answered (None: none in force).
    sign_off_id: int | None = None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One row of the decision log, as handed to the writer."""

    decision_id: str
    created_at_us: int
    request_id: str | None
    org_id: int | None
    key_prefix: str | None
    tier: str | None
    model: str | None
    capability: str | None
    allow: bool
    reason: str
    policy_version: int | None
    latency_us: int
    pep_prefix: str | None = None
    issuer: str | None = None
    subject: str | None = None
    org_name: str | None = None  # as it was when decided: an organisation may be renamed or deleted
    sign_off_id: int | None = None
    attempts: int = 1  # more: an aggregate of refused unauthenticated attempts (decisions.refusals)
