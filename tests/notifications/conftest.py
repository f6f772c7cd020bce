"""Notification tests: the webhook receivers run on 127.0.0.1, so private addresses are allowed
here (the refusal itself is tested with the setting off)."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "GOVERN_WEBHOOK_ALLOW_PRIVATE": "on"}
