"""The one way govern reads YAML: safe types only, and no anchors or aliases.

Layer: bottom. An alias repeats a node without repeating its text, so a kilobyte of nested aliases
("billion laughs") expands to gigabytes once walked or printed in an error message. No govern file
needs them, so they are refused while the document is composed, before anything is expanded.
"""

from __future__ import annotations

import yaml
from yaml.composer import ComposerError
from yaml.error import MarkedYAMLError
from yaml.nodes import Node

from govern.errors import GovernError, InvalidInput, shorten


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise ComposerError(None, None, "anchors and aliases (& and *) are not allowed",
                                event.start_mark)
        return super().compose_node(parent, index)


def load_yaml(text: str, where: str, *, error: type[GovernError] = InvalidInput,
              code: str | None = None) -> object:
    """Parse one YAML document read from `where`; a document that is not valid YAML, or uses an
    anchor or alias, raises `error` with a one-line message naming the place."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{where} is not valid YAML: {_one_line(exc)}", code=code) from None


def _one_line(exc: yaml.YAMLError) -> str:
    if isinstance(exc, MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{shorten(str(exc.problem))} (line {mark.line + 1}, column {mark.column + 1})"
    return shorten(" ".join(str(exc).split()))


class _NoAliasDumper(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:
        return True


def dump_yaml(data: object, **options: object) -> str:
    """`data` as YAML without anchors: a value used twice is written twice, so load_yaml reads back
    everything govern writes."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **options)  # type: ignore[call-overload,no-any-return]
