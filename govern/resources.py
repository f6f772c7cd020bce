"""Where the top-level templates/, static/, policies/ and migrations/ are, from a checkout or an install.

Layer: bottom (no govern imports).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` (templates, static, policies or migrations): inside an installed wheel it is
    `govern/_bundled/<name>`, in a checkout or an editable install it is `<repo>/<name>`."""
    for candidate in (_PACKAGE / "_bundled" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"govern's {name}/ folder is missing from this installation")
