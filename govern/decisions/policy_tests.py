"""`govern policy test`: expected decisions, written as YAML, checked against a policy snapshot
with governance, as the decision endpoints decide.

    - tier: verified            # or organisation: <name>, or key: <key prefix>
      model: chat-standard
      capability: generate
      expect: allow             # or deny
      reason: granted_by_tier   # optional
      governance:               # optional: this case's governance, over the state it runs with
        frontier-1: {signed_off_for: trusted}

Governance state, in a case's `governance` and in a fixture file (`--governance FILE`) alike, maps
a model under governance to what governance says of it:

    frontier-1: {signed_off_for: trusted}   # a sign-off in force opens it to trusted and above
    research-preview: {}                    # under governance, no sign-off: the top tier only
    chat-standard: {suspended: true}        # suspended (kill switch): closed to everyone
    open-7b: {governed: false}              # not under governance: the policy alone decides

`signed_off_for` (a tier, or null) and `suspended` (default false) are given per model; in a case,
what a model's entry leaves out keeps the value the run started with. A run starts from the live
governance (the database's sign-offs, holds, scorecards and suspensions), or from a fixture file,
or, offline without one, from no model under governance.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from govern.errors import InvalidInput
from govern.identity.keys import find_key
from govern.identity.organisations import find_org
from govern.policy.snapshot import PolicySnapshot
from govern.types import Caller, ModelAccess, Verdict
from govern.yaml_input import load_yaml

WHO = ("tier", "organisation", "key")
CASE_KEYS = frozenset({*WHO, "model", "capability", "expect", "reason", "governance"})
STATE_KEYS = frozenset({"signed_off_for", "suspended", "governed"})
Governance = Mapping[str, ModelAccess]


@dataclass(frozen=True)
class CaseResult:
    number: int
    description: str
    passed: bool
    verdict: Verdict
    expected: str


def _fail(message: str, code: str = "invalid_test_file") -> InvalidInput:
    return InvalidInput(message, code=code)


def load_cases(text: str) -> list[dict[str, Any]]:
    """The cases of a test file, each checked for shape (governance entries included).
    Raises InvalidInput (invalid_test_file) naming the first case that is wrong."""
    cases = load_yaml(text, "the test file", code="invalid_test_file")
    if not isinstance(cases, list) or not all(isinstance(case, dict) for case in cases):
        raise _fail("the test file must be a YAML list of cases")
    for number, case in enumerate(cases, 1):
        given = [who for who in WHO if who in case]
        missing = [name for name in ("model", "capability", "expect") if name not in case]
        if len(given) != 1 or missing or case["expect"] not in ("allow", "deny"):
            raise _fail(f"case {number}: needs exactly one of tier/organisation/key, and model, "
                        "capability and expect (allow or deny)")
        unknown = sorted(set(case) - CASE_KEYS)
        if unknown:
            raise _fail(f"case {number}: unknown field {', '.join(map(str, unknown))}")
        if "governance" in case:
            apply_governance({}, case["governance"], f"case {number}: governance")
    return cases


def load_governance(text: str, where: str) -> dict[str, ModelAccess]:
    """A governance fixture: the whole governance state a run starts from (see the module doc).
    Raises InvalidInput (invalid_governance_file)."""
    raw = load_yaml(text, where, code="invalid_governance_file")
    return apply_governance({}, {} if raw is None else raw, where, code="invalid_governance_file")


def apply_governance(base: Governance, entries: object, where: str,
                     code: str = "invalid_test_file") -> dict[str, ModelAccess]:
    """`base` with each model's entry of `entries` applied over it. Raises InvalidInput."""
    if not isinstance(entries, dict):
        raise _fail(f"{where} must map model names to their governance", code)
    state = dict(base)
    for model, entry in entries.items():
        if not isinstance(entry, dict) or set(entry) - STATE_KEYS:
            raise _fail(f"{where}: {model} takes signed_off_for, suspended and governed, e.g. "
                        "{signed_off_for: trusted}", code)
        tier, suspended, governed = (entry.get("signed_off_for"), entry.get("suspended"),
                                     entry.get("governed", True))
        if (tier is not None and not isinstance(tier, str)) or not isinstance(governed, bool) \
                or (suspended is not None and not isinstance(suspended, bool)):
            raise _fail(f"{where}: {model}: signed_off_for is a tier or null, suspended and "
                        "governed are true or false", code)
        if not governed:
            state.pop(str(model), None)
            continue
        before = state.get(str(model), ModelAccess(None, False))
        state[str(model)] = ModelAccess(
            tier if "signed_off_for" in entry else before.open_from,
            suspended if suspended is not None else before.suspended,
            # Named in a test, a sign-off has no row; the verdict records no sign-off id.
            None if "signed_off_for" in entry else before.sign_off_id)
    return state


def _caller(session: Session | None, snapshot: PolicySnapshot, case: dict[str, Any],
            number: int) -> Caller:
    if "tier" in case:
        return Caller(0, "", 0, "", str(case["tier"]), False, False)
    if session is None:
        who = "organisation" if "organisation" in case else "key"
        raise _fail(f"case {number} names {who} {case[who]}, which only the database knows: "
                    "offline, cases name tiers", code="offline_case")
    if "organisation" in case:
        org = find_org(session, str(case["organisation"]))
        return Caller(org.id, org.name, 0, "", org.tier, org.suspended, False)
    key = find_key(session, str(case["key"]))
    if key.org_id is None:
        raise _fail(f"key {key.prefix} is not a client key")
    org = find_org(session, key.org_id)
    return Caller(org.id, org.name, key.id, key.prefix, snapshot.effective_tier(org.tier, key.tier_cap),
                  org.suspended, key.suspended)


def run_cases(session: Session | None, snapshot: PolicySnapshot,
              cases: list[dict[str, Any]]) -> Iterator[CaseResult]:
    """Each case's result in order, decided by `snapshot` (whose governance the run starts from)
    or, for a case naming governance, by the same policy under that governance. Without a
    `session` (offline) only tier cases can run. The caller decides whether to stop at the first
    failure."""
    for number, case in enumerate(cases, 1):
        who = next(f"{name} {case[name]}" for name in WHO if name in case)
        decider = snapshot
        if "governance" in case:
            governed = apply_governance(snapshot.governed, case["governance"], f"case {number}")
            decider = PolicySnapshot(snapshot.version, snapshot.document, snapshot.model_conf, governed)
        verdict = decider.decide(_caller(session, decider, case, number), str(case["model"]),
                                 str(case["capability"]))
        expected = case["expect"] + (f" ({case['reason']})" if "reason" in case else "")
        passed = verdict.allow == (case["expect"] == "allow") and case.get(
            "reason", verdict.reason.value) == verdict.reason.value
        yield CaseResult(number, f"{who} {case['capability']} {case['model']}", passed, verdict,
                         expected)
