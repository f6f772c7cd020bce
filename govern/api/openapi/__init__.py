"""GET /openapi.json: the OpenAPI 3.1 document of every JSON endpoint.

It is assembled from the YAML fragments next to this module: `base.yaml` holds `openapi`, `info`
and the shared `components`; every other fragment describes one area with `paths` and, if it needs
them, `components.schemas`. A new area adds a fragment; a name defined twice is an error, so two
fragments cannot silently overwrite each other.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify

bp = Blueprint("openapi", __name__)

BASE = "base.yaml"


def merge(target: dict[str, Any], fragment: dict[str, Any], where: str = "") -> None:
    """Merge `fragment` into `target` key by key; the same leaf in both is a conflict."""
    for key, value in fragment.items():
        path = f"{where}/{key}"
        if key not in target:
            target[key] = value
        elif isinstance(target[key], dict) and isinstance(value, dict) and where.count("/") < 2:
            merge(target[key], value, path)
        else:
            raise ValueError(f"OpenAPI fragments both define {path}")


@cache
def document() -> dict[str, Any]:
    """The whole document, built once per process from the fragments."""
    folder = files(__name__)
    assembled: dict[str, Any] = yaml.safe_load(folder.joinpath(BASE).read_text(encoding="utf-8"))
    fragments = sorted(entry.name for entry in folder.iterdir()
                       if entry.name.endswith(".yaml") and entry.name != BASE)
    for name in fragments:
        fragment = yaml.safe_load(folder.joinpath(name).read_text(encoding="utf-8")) or {}
        unknown = set(fragment) - {"paths", "components"}
        if unknown:
            raise ValueError(f"OpenAPI fragment {name} may hold only paths and components, "
                             f"not {', '.join(sorted(unknown))}")
        merge(assembled, fragment)
    return assembled


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())
