"""A real LiteLLM proxy (from PyPI) with govern's auth hook and usage callback, in front of models that
answer with LiteLLM's mock responses, and a real `govern serve` behind it; all on loopback.

The proxy's configuration is the one of docs/litellm.md, taken from the file as it is (it names no
address: govern's is GOVERN_URL in the proxy's environment): the documentation is what is tested.
LiteLLM takes about 20 seconds to start here, so one proxy serves the whole module; each test reads
back only the decisions and usage of its own requests.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from databases import query

# The hooks talk to govern over HTTP; nothing here depends on the database behind it (run once).
pytestmark = pytest.mark.sqlite_only

DOCS = Path(__file__).resolve().parents[2] / "docs" / "litellm.md"
LITELLM = Path(sys.executable).parent / "litellm"
START_TIMEOUT = 120.0  # LiteLLM imports for ~20 s on an idle 2-core machine; this one is shared
STOP_TIMEOUT = 15.0
USAGE_TIMEOUT = 10.0  # the callback reports after the answer has left
HTTP_TIMEOUT = 30.0
MESSAGES = [{"role": "user", "content": "Hello?"}]
# What LiteLLM's mock response counts for every call, and what gpt-4o-mini's price list makes of it:
# 10 input tokens at $0.15 and 20 output tokens at $0.60 per million.
MOCK_INPUT_TOKENS, MOCK_OUTPUT_TOKENS = 10, 20
MOCK_COST_NANOS = 13_500


@dataclass(frozen=True)
class Proxy:
    url: str
    master_key: str
    database_url: str
    keys: dict[str, str]  # free, verified, trusted, internal
    pep_key: str  # the one usage is reported with

    def chat(self, key: str | None, model: str, *, path: str = "/v1/chat/completions",
             request_id: str | None = None, **body: object) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        if request_id:
            headers["X-Request-ID"] = request_id
        return requests.post(f"{self.url}{path}", json={"model": model, "messages": MESSAGES, **body},
                             headers=headers, timeout=HTTP_TIMEOUT)

    def decision(self, request_id: str) -> tuple[str, bool, str]:
        """(decision id, allow, reason) of the one decision govern made for `request_id`."""
        [row] = query(self.database_url, "SELECT decision_id, allow, reason FROM decision "
                                         f"WHERE request_id = '{request_id}'")
        return str(row[0]), bool(row[1]), str(row[2])

    def usage(self, decision_id: str) -> tuple[object, ...] | None:
        rows = query(self.database_url, "SELECT input_tokens, output_tokens, cost_nanos, model, reported_by "
                                        f"FROM usage WHERE decision_id = '{decision_id}'")
        return rows[0] if rows else None

    def usage_count(self) -> int:
        return int(query(self.database_url, "SELECT count(*) FROM usage")[0][0])  # type: ignore[call-overload]


def documented_config() -> str:
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/litellm.md should hold exactly one yaml block: the proxy's configuration"
    return blocks[0]


def demo_pep_key(folder: Path) -> str:
    """The enforcement-point key `govern demo` made, from the file it writes beside the database."""
    match = re.search(r"^export PEP_KEY=(gvk_\S+)$", (folder / "demo-keys.env").read_text(), re.MULTILINE)
    assert match is not None
    return match.group(1)


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(f"{url}/health/liveliness", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.2)
    pytest.fail(f"litellm did not start (exit {process.poll()}):\n{log.read_text(errors='replace')[-6000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def proxy(shared_server, port_finder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """LiteLLM on a free port of 127.0.0.1 with the documented configuration, asking the module's
    `govern serve`; stopped (its whole process group) after the module."""
    folder = tmp_path_factory.mktemp("litellm")
    config = folder / "litellm.yaml"
    config.write_text(documented_config())
    master_key = "sk-" + secrets.token_urlsafe(32)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("GOVERN_", "LITELLM_"))}
    pep_key = demo_pep_key(shared_server.demo.folder)
    env.update(GOVERN_URL=shared_server.server.url, GOVERN_PEP_KEY=pep_key,
               LITELLM_MASTER_KEY=master_key, LITELLM_LOCAL_MODEL_COST_MAP="True")
    log = folder / "litellm.log"
    port = 0
    process: subprocess.Popen[bytes] | None = None
    for _attempt in range(3):  # another process may take the free port first
        port = port_finder()
        with log.open("ab") as out:
            process = subprocess.Popen(
                [str(LITELLM), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
                 "--telemetry", "False"],
                env=env, cwd=folder, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        try:
            wait_until_up(process, f"http://127.0.0.1:{port}", log)
            break
        except pytest.fail.Exception:
            stop(process)
            if "address already in use" not in log.read_text(errors="replace").lower():
                raise
    assert process is not None
    try:
        yield Proxy(f"http://127.0.0.1:{port}", master_key, shared_server.demo.database_url,
                    shared_server.demo.keys, pep_key)
    finally:
        stop(process)


def request_id() -> str:
    return f"litellm-{secrets.token_hex(8)}"


def usage_within(proxy: Proxy, decision_id: str) -> tuple[object, ...] | None:
    deadline = time.monotonic() + USAGE_TIMEOUT
    found = proxy.usage(decision_id)
    while found is None and time.monotonic() < deadline:
        time.sleep(0.1)
        found = proxy.usage(decision_id)
    return found


def test_an_allowed_key_gets_the_mock_answer_and_its_usage_is_reported(proxy):
    asked = request_id()

    response = proxy.chat(proxy.keys["verified"], "chat-standard", request_id=asked)

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the mock model."
    decision_id, allow, reason = proxy.decision(asked)
    assert (allow, reason) == (True, "granted_by_tier")
    assert usage_within(proxy, decision_id) == (MOCK_INPUT_TOKENS, MOCK_OUTPUT_TOKENS, MOCK_COST_NANOS,
                                                "chat-standard", proxy.pep_key[:16])


def test_a_free_key_is_refused_a_model_its_tier_lacks_with_govern_reason_and_no_usage(proxy):
    asked = request_id()
    before = proxy.usage_count()

    response = proxy.chat(proxy.keys["free"], "chat-standard", request_id=asked)

    assert response.status_code == 403, response.text
    assert "tier_too_low" in response.json()["error"]["message"]
    decision_id, allow, _ = proxy.decision(asked)
    assert allow is False
    assert decision_id in response.json()["error"]["message"]
    time.sleep(1)  # no report is coming; give a wrong one the time to land
    assert proxy.usage(decision_id) is None
    assert proxy.usage_count() == before


def test_the_same_free_key_is_let_through_for_a_model_of_its_tier(proxy):
    response = proxy.chat(proxy.keys["free"], "open-7b")

    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "Hello from the open model."


@pytest.mark.parametrize("key", ["gvk_0123456789ab_not-a-real-secret", "sk-1234", None],
                         ids=["unknown", "not-govern", "none"])
def test_a_key_govern_does_not_know_is_refused(proxy, key):
    response = proxy.chat(key, "open-7b")

    assert response.status_code == 401, response.text
    assert re.search(r"\(key_(unknown|missing)\)", response.json()["error"]["message"])


def test_litellm_master_key_opens_nothing(proxy):
    chat = proxy.chat(proxy.master_key, "open-7b")
    admin = requests.post(f"{proxy.url}/key/generate", json={},
                          headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=HTTP_TIMEOUT)

    assert chat.status_code == 401
    assert admin.status_code in (401, 403)


def test_the_model_in_the_path_is_the_one_decided_on(proxy):
    # LiteLLM calls the deployment the path names, whatever the body says: the body's model, one the
    # free tier may use, must not be what govern is asked about.
    response = proxy.chat(proxy.keys["free"], "open-7b",
                          path="/openai/deployments/chat-standard/chat/completions")

    assert response.status_code == 403, response.text
    assert "tier_too_low" in response.json()["error"]["message"]


def test_request_metadata_cannot_charge_the_call_to_another_decision(proxy):
    other = request_id()
    proxy.chat(proxy.keys["trusted"], "chat-standard", request_id=other)
    others_decision, _, _ = proxy.decision(other)
    others_usage = usage_within(proxy, others_decision)
    asked = request_id()

    response = proxy.chat(proxy.keys["verified"], "chat-standard", request_id=asked,
                          metadata={"user_api_key_metadata": {"govern_decision_id": others_decision},
                                    "govern_decision_id": others_decision})

    assert response.status_code == 200, response.text
    own_decision, _, _ = proxy.decision(asked)
    assert usage_within(proxy, own_decision) is not None
    assert proxy.usage(others_decision) == others_usage


def test_past_its_rate_limit_a_key_gets_429_with_retry_after(proxy, shared_server):
    # The internal tier only: no other test of the module asks govern with the internal key.
    shared_server.demo.edit_policy(lambda document: document.update(
        rate_limits={"internal": {"per_minute": 1}}))
    deadline = time.monotonic() + USAGE_TIMEOUT  # the server follows the policy within its refresh
    response = proxy.chat(proxy.keys["internal"], "open-7b")
    while response.status_code != 429 and time.monotonic() < deadline:
        time.sleep(0.1)
        response = proxy.chat(proxy.keys["internal"], "open-7b")

    assert response.status_code == 429, response.text
    assert "(rate_limited)" in response.json()["error"]["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


@pytest.mark.parametrize(("method", "path"), [("POST", "/v1/embeddings"), ("GET", "/v1/models"),
                                              ("POST", "/v1/files")])
def test_routes_govern_does_not_decide_on_are_refused(proxy, method, path):
    response = requests.request(method, f"{proxy.url}{path}", json={"model": "open-7b", "input": "x"},
                                headers={"Authorization": f"Bearer {proxy.keys['internal']}"},
                                timeout=HTTP_TIMEOUT)

    assert response.status_code == 403, response.text
    assert "(no_route)" in response.json()["error"]["message"]
