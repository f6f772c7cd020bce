"""A token budget holds across every worker process of `govern serve`: concurrent checks that each
reserve their max_tokens are allowed exactly as far as the budget goes, with the default counter
store (the shared file) and with a real redis-server (as several nodes would share)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

# The counts live in their own store (a shared file or Redis), whatever the main database.
pytestmark = pytest.mark.sqlite_only

WORKERS = 3
BUDGET = 1_000
ESTIMATE = 70  # 14 calls fit in the budget (980), a 15th would not


@pytest.mark.parametrize("storage", ["default", "redis"])
def test_concurrent_reservations_on_every_worker_never_overspend(
        storage, demo_instance, live_server, request):  # type: ignore[no-untyped-def]
    demo_instance.edit_policy(lambda document: document.update(
        budgets={"free": [{"period": "day", "tokens": BUDGET}]}))
    second = demo_instance.govern("keys", "create", "--org", "demo-free").stdout.strip()
    overrides = {}
    if storage == "redis":
        overrides["GOVERN_RATELIMIT_STORAGE"] = request.getfixturevalue("redis_url")
    server = live_server(workers=WORKERS, **overrides)
    keys = [demo_instance.keys["free"], second]

    def one(index: int) -> str:
        answer = requests.post(f"{server.url}/v1/check", timeout=10,
                               json={"model": "open-7b", "capability": "generate",
                                     "context": {"max_tokens": ESTIMATE}},
                               headers={"Authorization": f"Bearer {keys[index % 2]}"})
        return str(answer.json()["reason"])

    with ThreadPoolExecutor(12) as pool:
        reasons = list(pool.map(one, range(30)))

    assert reasons.count("granted_by_tier") == BUDGET // ESTIMATE
    assert reasons.count("budget_exhausted") == 30 - BUDGET // ESTIMATE
