"""Casbin parses its matcher with `ast` on every evaluation, and CPython 3.11 counts ast.parse's
recursion per interpreter rather than per thread (gh-106905): another thread parsing at the same
moment (any library's, outside govern's lock) made an evaluation fail with a SystemError — a
policy that cannot be built, `/readyz` degraded — though nothing was wrong with the policy."""

from __future__ import annotations

import ast
import threading

from govern.policy.document import parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.resources import resource_dir

# Unguarded, about one evaluation in 300 failed on the 2-core machine; this many make a pass
# without the retry all but impossible (e^-10).
EVALUATIONS = 3000


def test_snapshots_build_while_another_thread_parses_python() -> None:
    document = parse_document({
        "tiers": ["free", "verified"], "capabilities": ["generate", "tools", "fine_tune"],
        "model_groups": {"open": ["open-7b", "open-13b"]},
        "grants": [{"tier": "free", "target": "open", "capability": "generate"}]})
    model_conf = (resource_dir("policies") / "model.conf").read_text()
    stop = threading.Event()

    def parse_elsewhere() -> None:
        while not stop.is_set():
            ast.parse("a == b and (c or d) and f(x, y)")

    other = threading.Thread(target=parse_elsewhere, daemon=True)
    other.start()
    try:
        answers = set()
        for n in range(EVALUATIONS // 6):  # a fresh snapshot each time: nothing memoized
            snapshot = PolicySnapshot(n, document, model_conf)
            answers |= {snapshot.decide_tier(tier, model, "generate").allow
                        for tier in ("free", "verified") for model in ("open-7b", "open-13b", "other")}
    finally:
        stop.set()
        other.join(5)
    assert answers == {True, False}
