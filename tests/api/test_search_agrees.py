"""Property: for random organisations, keys (caps, suspensions), grants and capabilities, the AuthZEN
resource search and GET /v1/models list exactly the models a single evaluation allows."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from factories import add_models, make_key, make_pep_key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from govern.api import runtime
from govern.identity.keys import update_key
from govern.policy.document import Grant
from govern.policy.edits import add_grant
from govern.policy.store import change_policy

TIERS = ["free", "verified", "trusted", "internal"]
CAPABILITIES = ["generate", "fine_tune", "tools"]
GROUPS = {"open": ["open-7b", "tiny-2"], "standard": ["chat-standard"], "frontier": ["frontier-1"],
          "research": ["research-preview"]}
MODELS = sorted(m for models in GROUPS.values() for m in models)
NAMES = (f"org-{n}" for n in itertools.count())


@pytest.fixture
def pep(session) -> dict[str, str]:
    add_models(session, GROUPS)
    return {"Authorization": f"Bearer {make_pep_key(session)}"}


grants = st.lists(st.builds(Grant, tier=st.sampled_from(TIERS), target=st.sampled_from(MODELS + list(GROUPS)),
                            capability=st.sampled_from(CAPABILITIES),
                            effect=st.sampled_from(["allow", "deny"])),
                  max_size=3, unique=True)


@settings(max_examples=25, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tier=st.sampled_from(TIERS), cap=st.none() | st.sampled_from(TIERS), suspended=st.booleans(),
       capability=st.sampled_from(CAPABILITIES), extra=grants)
def test_resource_search_and_models_agree_with_single_evaluations(
        app, client, session, pep, tier, cap, suspended, capability, extra):
    def edit(raw: dict[str, Any]) -> None:
        for grant in extra:
            if grant.as_dict() not in raw["grants"]:
                add_grant(raw, grant)

    version = change_policy(session, edit, actor="test", comment="random grants") if extra else 0
    key = make_key(session, next(NAMES), tier=tier, tier_cap=cap)
    if suspended:
        update_key(session, key[:16], actor="test", suspended=True)
    # Wait for the watcher's new snapshot rather than building one here: Casbin on two threads at
    # once is what the runtime is designed to avoid.
    deadline = time.monotonic() + 5
    while runtime().snapshot.version < version and time.monotonic() < deadline:
        time.sleep(0.01)
    subject = {"type": "api_key", "id": key[:16]}

    single = [client.post("/access/v1/evaluation", headers=pep, json={
        "subject": subject, "resource": {"type": "model", "id": model}, "action": {"name": c}}).json
        for model in MODELS for c in CAPABILITIES]
    allowed = {(model, c) for (model, c), answer in zip(itertools.product(MODELS, CAPABILITIES), single,
                                                        strict=True) if answer["decision"]}
    searched = client.post("/access/v1/search/resource", headers=pep, json={
        "subject": subject, "action": {"name": capability}, "resource": {"type": "model"}}).json
    listed = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).json

    assert [r["id"] for r in searched["results"]] == sorted(m for m, c in allowed if c == capability)
    assert {(m["id"], c) for m in listed["data"] for c in m["capabilities"]} == allowed
    if suspended:
        assert allowed == set()
