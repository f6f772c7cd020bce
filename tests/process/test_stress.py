"""Many concurrent checks against a two-worker server: every one is answered as the policy says,
none with a server error, and each answer has exactly one row in the decision log.

It also guards the concurrency trap named in STYLE.md (pycasbin under several threads)."""

from __future__ import annotations

import itertools
import threading
import time
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:  # annotations only: tests get these through the fixtures of conftest.py
    from conftest import DemoInstance, Server

HTTP_TIMEOUT = 10.0

THREADS = 16
REQUESTS_PER_THREAD = 100
TIME_LIMIT = 180.0  # a bound, not a performance target: a hung server ends the test

MODELS = ["open-7b", "chat-standard", "frontier-1", "research-preview"]
CAPABILITIES = ["generate", "fine_tune", "tools"]
TIERS = ["free", "verified", "trusted", "internal"]

# What each tier may do under the default policy with the demo models (policies/policy.yaml): its
# own grants and every grant of the tiers below it. Everything else is denied.
OWN_GRANTS = {
    "free": {("open-7b", "generate")},
    "verified": {("open-7b", "tools"), ("chat-standard", "generate")},
    "trusted": {("chat-standard", "tools"), ("chat-standard", "fine_tune"),
                ("open-7b", "fine_tune"), ("frontier-1", "generate")},
    "internal": {("frontier-1", "tools"), ("frontier-1", "fine_tune"),
                 ("research-preview", "generate"), ("research-preview", "fine_tune"),
                 ("research-preview", "tools")},
}
ALLOWED = {tier: set().union(*(OWN_GRANTS[t] for t in TIERS[:rank + 1]))
           for rank, tier in enumerate(TIERS)}
UNKNOWN_KEY = "gvk_0123456789ab_" + "n" * 43


def test_concurrent_checks_are_all_answered_and_all_logged(live_server,
                                                           demo_instance: DemoInstance):
    assert demo_instance.decision_count() == 0
    server: Server = live_server()
    keys = {**demo_instance.keys, "unknown": UNKNOWN_KEY}
    cases = [(tier, model, capability)
             for tier, model, capability in itertools.product(TIERS, MODELS, CAPABILITIES)]
    cases += [(tier, "no-such-model", "generate") for tier in TIERS]
    cases += [("unknown", "open-7b", "generate")]
    results: list[tuple[tuple[str, str, str], int, dict[str, object]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    deadline = time.monotonic() + TIME_LIMIT

    def client(number: int) -> None:
        mine = []
        try:
            with requests.Session() as session:
                for index in range(REQUESTS_PER_THREAD):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the stress run took longer than its bound")
                    case = cases[(number * 7 + index) % len(cases)]
                    tier, model, capability = case
                    response = session.post(
                        f"{server.url}/v1/check", json={"model": model, "capability": capability},
                        headers={"Authorization": f"Bearer {keys[tier]}"}, timeout=HTTP_TIMEOUT)
                    mine.append((case, response.status_code, response.json()))
        except BaseException as error:  # reported below, with what was answered so far
            with lock:
                errors.append(error)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIME_LIMIT + 30)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == [], f"{errors[:3]}\n{server.log()}"
    assert len(results) == THREADS * REQUESTS_PER_THREAD

    server_errors = [(case, status, body) for case, status, body in results if status >= 500]
    assert server_errors == [], f"{server_errors[:5]}\n{server.log()}"
    wrong = []
    for (tier, model, capability), status, body in results:
        if tier == "unknown":
            expected: tuple[object, ...] = (401, "key_unknown")
            got: tuple[object, ...] = (status, body.get("code"))
        elif model == "no-such-model":
            expected, got = (200, False, "unknown_model"), (status, body["allow"], body["reason"])
        else:
            expected = (200, (model, capability) in ALLOWED[tier], tier)
            got = (status, body["allow"], body["tier"])
        if got != expected:
            wrong.append(((tier, model, capability), expected, got))
    assert wrong == [], wrong[:10]

    assert server.stop() == 0
    ids = [str(body["decision_id"]) for _case, _status, body in results]
    assert len(set(ids)) == len(ids)
    assert demo_instance.decision_ids(ids) == set(ids)
    assert demo_instance.decision_count() == len(ids)
