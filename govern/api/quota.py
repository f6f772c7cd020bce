"""What a decision answer says of the caller's rate limits: the remaining quota in a /v1/check body,
and the IETF RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers) on
/v1/authorize, so a gateway or a client can slow down before it is refused."""

from __future__ import annotations

import math
import time

from govern.decisions.ratelimit import PERIOD_SECONDS, Allowance


def quota(allowance: Allowance | None) -> dict[str, object] | None:
    """The tightest window counted, as it stands after the call (None: no limit)."""
    window = allowance.tightest if allowance is not None else None
    if window is None:
        return None
    return {"window": window.name, "limit": window.limit, "remaining": window.remaining,
            "resets_in": max(0, math.ceil(window.resets_at - time.time()))}


def header_fields(allowance: Allowance | None) -> dict[str, str]:
    """RateLimit-Policy (every window counted: quota and length in seconds) and RateLimit (what
    remains of the tightest, and the seconds until it restarts); none when nothing was counted."""
    window = allowance.tightest if allowance is not None else None
    if allowance is None or window is None:
        return {}
    policies = ", ".join(f'"{w.name}";q={w.limit};w={PERIOD_SECONDS[w.period]}' for w in allowance.windows)
    reset = max(0, math.ceil(window.resets_at - time.time()))
    return {"RateLimit-Policy": policies, "RateLimit": f'"{window.name}";r={window.remaining};t={reset}'}
