"""A gateway test skips only where its gateway is truly missing, and never in CI: there a missing
binary is a failure, not a green run that tested nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from gateways import gateway_binary

pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def empty_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("PATH", str(tmp_path))
    return tmp_path


def test_a_missing_gateway_skips_outside_ci(monkeypatch, empty_path):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="caddy is not installed"):
        gateway_binary("caddy", empty_path / "nowhere" / "caddy")


def test_a_missing_gateway_fails_in_ci(monkeypatch, empty_path):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="caddy is not installed"):
        gateway_binary("caddy", empty_path / "nowhere" / "caddy")


def test_a_gateway_found_on_path_or_at_a_known_place_is_used(monkeypatch, empty_path):
    monkeypatch.setenv("CI", "true")
    elsewhere = empty_path / "venv-bin" / "traefik"
    elsewhere.parent.mkdir()
    elsewhere.write_text("#!/bin/sh\n")
    elsewhere.chmod(0o755)
    on_path = empty_path / "nginx"
    on_path.write_text("#!/bin/sh\n")
    on_path.chmod(0o755)

    assert gateway_binary("traefik", elsewhere) == str(elsewhere)
    assert gateway_binary("nginx", Path("/nowhere/nginx")) == str(on_path)
