"""What the tests of real gateways (nginx, Traefik, Caddy) in front of a real `govern serve` share:
the gateway's configuration taken from its snippet in docs/gateways.md with only the addresses
changed (the documentation is what is tested), the gateway binary, the gateway process, an upstream
on loopback that records what reaches it, and the checks every gateway must pass.

The fixtures `upstream` and `gateway` reach the test modules through tests/process/conftest.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateways.md"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 10.0
FREE_PER_MINUTE = 3
DEPLOYMENT = "/openai/deployments/{model}/chat/completions"
UNKNOWN_KEY = "gvk_000000000000_" + "x" * 43
# GET has no route rule: govern answers 403 no_route, so an X-Govern-Reason on the answer shows the
# gateway is up and asks govern. Nothing is decided, counted or passed on.
PROBE = "/v1/models"


def gateway_binary(name: str, *elsewhere: Path) -> str:
    """The gateway's executable, on PATH or at one of `elsewhere`. A test skips when there is none,
    except in CI (CI set), where tests/system-packages.sh and the [test] extra install every one."""
    found = shutil.which(name) or next(
        (str(path) for path in elsewhere if path.is_file() and os.access(path, os.X_OK)), None)
    if found is not None:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (tests/system-packages.sh, pip install -e '.[test]')")
    pytest.skip(f"{name} is not installed")


def documented_config(section: str, language: str, addresses: Mapping[str, str]) -> str:
    """The one ```LANGUAGE snippet of the section `## SECTION` of docs/gateways.md, each documented
    address replaced."""
    text = DOCS.read_text()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    blocks = re.findall(rf"```{language}\n(.*?)```", text[start:end if end != -1 else None], re.DOTALL)
    assert len(blocks) == 1, f"the {section} section of docs/gateways.md should hold one {language} snippet"
    snippet: str = blocks[0]
    for documented, actual in addresses.items():
        assert documented in snippet, f"the {language} snippet no longer says {documented}"
        snippet = snippet.replace(documented, actual)
    return snippet


# -- the upstream: records what reached it ----------------------------------------------------------
@dataclass
class Upstream:
    address: str  # host:port
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A model API on loopback that answers every POST with 200 and records its path, headers
    (lower-cased) and body."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, "body": body.decode(),
                         **{k.lower(): v for k, v in self.headers.items()}})
            answer = b'{"choices": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Upstream(f"127.0.0.1:{server.server_address[1]}", seen)
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- the gateway process ----------------------------------------------------------------------------
def wait_for_govern_behind(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once a request to `url` is answered by govern through the gateway (bounded)."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if "X-Govern-Reason" in requests.get(url + PROBE, timeout=2).headers:
                return
        except requests.ConnectionError:
            pass  # not listening yet
        time.sleep(0.05)
    output = log.read_text(errors="replace")[-6000:] if log.exists() else ""
    pytest.fail(f"the gateway did not start asking govern (exit {process.poll()}):\n{output}")


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Factory: `gateway(command, url, env=None)` runs the gateway `command` in the foreground (its
    output in tmp_path/gateway.log) and waits until requests to its base `url` reach govern;
    returns `url`. The gateway is stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "gateway.log"

    def start(command: list[str], url: str, env: Mapping[str, str] | None = None) -> str:
        with log.open("ab") as output:
            process = subprocess.Popen(command, env=env, cwd=tmp_path, stdin=subprocess.DEVNULL,
                                       stdout=output, stderr=subprocess.STDOUT)
        processes.append(process)
        wait_for_govern_behind(url, process, log)
        return url

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)


# -- the checks ---------------------------------------------------------------------------------------
def limit_free_tier(demo_instance) -> None:  # type: ignore[no-untyped-def]
    """The free tier limited to FREE_PER_MINUTE decisions a minute."""
    demo_instance.edit_policy(lambda document: document.update(
        rate_limits={"free": {"per_minute": FREE_PER_MINUTE}}))


def post(gateway: str, path: str, key: str | None, json: object = None,
         **headers: str) -> requests.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return requests.post(gateway + path, json={"messages": []} if json is None else json,
                         headers=headers, timeout=HTTP_TIMEOUT)


def check_govern_decides(gateway: str, upstream: Upstream, keys: dict[str, str]) -> None:
    """What docs/gateways.md promises of every gateway, after `limit_free_tier`: the upstream gets
    only allowed requests, each with govern's tier, organisation and decision id in place of the
    client's own; a denial is a 403 with govern's reason, no or an unknown key a 401 with govern's
    challenge, past the rate limit a 429 with Retry-After. Model and capability are those of the
    request the client makes (path and method), whatever headers it adds to name others."""
    def call(model: str, key: str | None, **headers: str) -> requests.Response:
        return post(gateway, DEPLOYMENT.format(model=model), key, **headers)

    # Allowed, each with its tier; the client's own X-Govern-* headers are replaced.
    trusted = call("frontier-1", keys["trusted"], **{"X-Govern-Tier": "internal", "X-Govern-Org": "x"})
    internal = call("research-preview", keys["internal"])
    free = call("open-7b", keys["free"])
    assert [r.status_code for r in (trusted, internal, free)] == [200, 200, 200]
    assert [seen["x-govern-tier"] for seen in upstream.seen] == ["trusted", "internal", "free"]
    assert [seen["x-govern-org"] for seen in upstream.seen] == ["demo-trusted", "demo-internal", "demo-free"]
    assert all(re.fullmatch(r"[0-9a-f]{26}", seen["x-govern-decision-id"]) for seen in upstream.seen)
    assert upstream.seen[0]["path"] == "/openai/deployments/frontier-1/chat/completions"
    assert upstream.seen[0]["body"] == '{"messages": []}'

    # Denied: a tier too low, even when the client names an allowed model to govern.
    denied = call("frontier-1", keys["free"], **{"X-Govern-Model": "open-7b"})
    assert denied.status_code == 403
    assert denied.headers["X-Govern-Reason"] == "tier_too_low"
    assert denied.json()["code"] == "tier_too_low"
    assert "Retry-After" not in denied.headers

    # The capability is the original method's: no rule lets a GET through, whatever the key.
    wrong_method = requests.get(gateway + DEPLOYMENT.format(model="open-7b"), timeout=HTTP_TIMEOUT,
                                headers={"Authorization": f"Bearer {keys['internal']}"})
    assert (wrong_method.status_code, wrong_method.headers["X-Govern-Reason"]) == (403, "no_route")

    # No key, an unknown key: 401 with govern's challenge.
    for key in (None, UNKNOWN_KEY):
        response = call("open-7b", key)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="govern"'

    # The free key has used 2 of its 3 a minute (the denial counts): one more passes, then 429
    # with Retry-After.
    assert call("open-7b", keys["free"]).status_code == 200
    limited = call("open-7b", keys["free"])
    assert limited.status_code == 429
    assert limited.headers["X-Govern-Reason"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["code"] == "rate_limited"

    # Only the four allowed requests reached the upstream.
    assert len(upstream.seen) == 4


def check_reports_cannot_be_forged(gateway: str, upstream: Upstream, keys: dict[str, str]) -> None:
    """A client calling a model its tier may not use, adding every gateway kind's report of the
    original request (and the other X-Forwarded-* headers) to name one it may use, gets the answer
    of the request it makes: the snippets replace or drop those headers. It never reaches the
    upstream."""
    permitted, called = DEPLOYMENT.format(model="frontier-1"), DEPLOYMENT.format(model="research-preview")
    honest = post(gateway, called, keys["trusted"])
    assert honest.status_code == 403
    before = len(upstream.seen)
    for forged in ({"X-Original-URI": permitted, "X-Original-Method": "POST"},
                   {"X-Forwarded-Uri": permitted, "X-Forwarded-Method": "POST"},
                   {"X-Forwarded-Uri": permitted, "X-Forwarded-Prefix": "/", "X-Forwarded-Proto": "https",
                    "X-Forwarded-Host": "api.example", "X-Forwarded-For": "10.1.2.3"},
                   {"X-Govern-Model": "frontier-1", "X-Govern-Capability": "generate"}):
        response = post(gateway, called, keys["trusted"], **forged)
        assert response.status_code == 403, forged
        assert response.headers["X-Govern-Reason"] == honest.headers["X-Govern-Reason"], forged
    assert len(upstream.seen) == before
