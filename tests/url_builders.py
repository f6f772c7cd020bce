"""URL builders shared by every app the suite creates.

Werkzeug compiles two URL-building functions per route when a rule is added (Python source built as
an AST, then `compile`): about 0.9 ms each, or ~0.23 s for govern's ~250 routes, paid again by every
`create_app`. The suite creates an app per test, some 1,900 times a run, so that compiling was about
a quarter of the suite's CPU (tests/api: 335 s of CPU without sharing, 257 s with it). A builder
depends only on its rule (the text, its parts and its defaults) and gets the rule it serves as
`self` when called, so one compiled per distinct rule serves them all.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_builders: dict[tuple[Any, ...], Callable[..., tuple[str, str]]] = {}


def _shared_builder(self: Rule, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
    key = (self.rule, self.subdomain, self.host, tuple(self._trace),
           tuple(sorted((name, repr(value)) for name, value in (self.defaults or {}).items())),
           append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(self, append_unknown)
    return builder


def share() -> None:
    Rule._compile_builder = _shared_builder  # type: ignore[method-assign]
