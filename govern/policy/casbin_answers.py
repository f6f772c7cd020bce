"""Casbin's answers for one policy (a model text and its lines), shared by every snapshot of it.

A snapshot is rebuilt in every process whenever governance changes (a sign-off, a reversal, the
kill switch) while the policy itself mostly stays as it was. What Casbin answers depends only on the
model, the lines and the question, so the process keeps those answers per policy and a rebuild
asks Casbin only what no snapshot of the same policy asked before: a kill switch reaches the
workers without re-evaluating the matcher for every question. Governance facts are applied on top
by the snapshot, never cached here. (A matcher that reads the clock, `timeMatch`, was already
answered once per snapshot; it is now answered once per policy text.)
"""

from __future__ import annotations

import threading
from functools import lru_cache

import casbin
from casbin.model import Model
from casbin.rbac.default_role_manager import RoleManager

from govern.errors import PolicyRejected

Question = tuple[str, str, str]  # tier, model, capability
Rules = tuple[tuple[str, ...], ...]
# Policies whose answers are kept: the one in force, the one before it and a few drafts built by
# the admin side (previews, impact, tests of a proposal).
POLICIES_KEPT = 8

# pycasbin parses its matcher with `ast` on every call, which CPython does not survive reliably
# from several threads at once (even on different enforcers: a snapshot being built while the one
# in force answers), so every call to Casbin in the process takes this one lock.
_CASBIN = threading.Lock()
# CPython 3.11 keeps ast.parse's recursion count per interpreter, not per thread (gh-106905): a
# parse elsewhere in the process at the same moment (another library's, outside the lock) makes
# ours fail with this SystemError, though nothing is wrong with the policy; it is tried again.
AST_RACE = "AST constructor recursion depth mismatch"
AST_RACE_TRIES = 5


def load_model(model_conf: str) -> Model:
    """Parse a Casbin model and check it has the shape govern asks questions in."""
    model = Model()
    try:
        model.load_model_from_text(model_conf)
    except Exception as exc:  # pycasbin raises bare errors of several kinds
        raise PolicyRejected(f"the Casbin model does not parse: {exc}") from None
    request = model.model.get("r", {}).get("r")
    policy = model.model.get("p", {}).get("p")
    if request is None or len(request.tokens) != 3 or policy is None or len(policy.tokens) != 4:
        raise PolicyRejected("the Casbin model must define r = sub, obj, act and p = sub, obj, act, eft")
    return model


class CasbinAnswers:
    """One enforcer for a policy, and every answer it gave. Thread-safe: Casbin only under a lock."""

    def __init__(self, model_conf: str, rules: Rules, tiers: int) -> None:
        self._enforcer = casbin.Enforcer(load_model(model_conf))
        # Casbin follows role links only 10 deep by default; the top tier must reach the lowest.
        self._enforcer.set_named_role_manager("g", RoleManager(max_hierarchy_level=tiers + 1))
        for ptype, *values in rules:
            if ptype == "p":
                self._enforcer.add_policy(*values)
            else:
                self._enforcer.add_named_grouping_policy(ptype, *values)
        self._answers: dict[Question, tuple[bool, tuple[str, ...]]] = {}

    def ask(self, tier: str, model: str, capability: str) -> tuple[bool, list[str]]:
        """Whether Casbin allows, and the policy line that decided (empty: none matched). Raises
        whatever the matcher raises; a failure is not kept."""
        question = (tier, model, capability)
        known = self._answers.get(question)
        if known is None:
            known = self._answers[question] = self._enforce(question)
        return known[0], list(known[1])

    def _enforce(self, question: Question) -> tuple[bool, tuple[str, ...]]:
        tries = 1
        while True:
            try:
                with _CASBIN:
                    allowed, explain = self._enforcer.enforce_ex(*question)
                return bool(allowed), tuple(explain)
            except SystemError as error:
                if AST_RACE not in str(error) or tries == AST_RACE_TRIES:
                    raise
                tries += 1


@lru_cache(maxsize=POLICIES_KEPT)
def answers_for(model_conf: str, rules: Rules, tiers: int) -> CasbinAnswers:
    """The shared answers of the policy with this model and these Casbin lines (ptype first)."""
    return CasbinAnswers(model_conf, rules, tiers)
