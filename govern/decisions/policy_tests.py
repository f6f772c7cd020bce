"""`govern policy test`: expected decisions, written as YAML, checked against a policy snapshot.

    - tier: verified            # or organisation: <name>, or key: <key prefix>
      model: chat-standard
      capability: generate
      expect: allow             # or deny
      reason: granted_by_tier   # optional
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from govern.errors import InvalidInput
from govern.identity.keys import find_key
from govern.identity.organisations import find_org
from govern.policy.snapshot import PolicySnapshot
from govern.types import Caller, Verdict
from govern.yaml_input import load_yaml

WHO = ("tier", "organisation", "key")


@dataclass(frozen=True)
class CaseResult:
    number: int
    description: str
    passed: bool
    verdict: Verdict
    expected: str


def load_cases(text: str) -> list[dict[str, Any]]:
    cases = load_yaml(text, "the test file", code="invalid_test_file")
    if not isinstance(cases, list) or not all(isinstance(case, dict) for case in cases):
        raise InvalidInput("the test file must be a YAML list of cases", code="invalid_test_file")
    for number, case in enumerate(cases, 1):
        given = [who for who in WHO if who in case]
        missing = [name for name in ("model", "capability", "expect") if name not in case]
        if len(given) != 1 or missing or case["expect"] not in ("allow", "deny"):
            raise InvalidInput(
                f"case {number}: needs exactly one of tier/organisation/key, and model, "
                "capability and expect (allow or deny)", code="invalid_test_file")
    return cases


def _caller(session: Session, snapshot: PolicySnapshot, case: dict[str, Any]) -> Caller:
    if "tier" in case:
        return Caller(0, "", 0, "", str(case["tier"]), False, False)
    if "organisation" in case:
        org = find_org(session, str(case["organisation"]))
        return Caller(org.id, org.name, 0, "", org.tier, org.suspended, False)
    key = find_key(session, str(case["key"]))
    if key.org_id is None:
        raise InvalidInput(f"key {key.prefix} is not a client key", code="invalid_test_file")
    org = find_org(session, key.org_id)
    return Caller(org.id, org.name, key.id, key.prefix, snapshot.effective_tier(org.tier, key.tier_cap),
                  org.suspended, key.suspended)


def run_cases(session: Session, snapshot: PolicySnapshot,
              cases: list[dict[str, Any]]) -> Iterator[CaseResult]:
    """Each case's result in order; the caller decides whether to stop at the first failure."""
    for number, case in enumerate(cases, 1):
        who = next(f"{name} {case[name]}" for name in WHO if name in case)
        verdict = snapshot.decide(_caller(session, snapshot, case), str(case["model"]),
                                  str(case["capability"]))
        expected = case["expect"] + (f" ({case['reason']})" if "reason" in case else "")
        passed = verdict.allow == (case["expect"] == "allow") and case.get(
            "reason", verdict.reason.value) == verdict.reason.value
        yield CaseResult(number, f"{who} {case['capability']} {case['model']}", passed, verdict,
                         expected)
