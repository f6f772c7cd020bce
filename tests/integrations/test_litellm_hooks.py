"""govern's LiteLLM auth hook fails closed: a govern that cannot be reached or cannot answer, a
route govern does not decide on, a request naming no model, a proxy not told where govern is — each
refuses the request. (The hooks at work in a real proxy: tests/process/test_litellm_proxy.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from litellm.proxy._types import ProxyException
from starlette.requests import Request

from govern.integrations import litellm as hooks

# Nothing here touches govern's database (run once).
pytestmark = pytest.mark.sqlite_only

KEY = "gvk_0123456789ab_secret"


def chat_request(path: str = "/v1/chat/completions", body: dict[str, object] | None = None,
                 path_params: dict[str, str] | None = None) -> Request:
    """A request as LiteLLM's route hands it to the hook."""
    data = json.dumps({"model": "open-7b", "messages": []} if body is None else body).encode()

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": data, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"content-type", b"application/json")], "path_params": path_params or {},
             "scheme": "http", "server": ("127.0.0.1", 4000), "client": ("127.0.0.1", 50000)}
    return Request(scope, receive)


def refusal(request: Request) -> ProxyException:
    with pytest.raises(ProxyException) as raised:
        asyncio.run(hooks.user_api_key_auth(request, KEY))
    return raised.value


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens once it is closed


@pytest.fixture
def failing_govern() -> Iterator[str]:
    """A server on loopback answering every request as govern does when it cannot record a decision."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = b'{"code": "decision_log_unavailable", "message": "try again", "status": 503}'
            self.send_response(503)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_govern_unreachable_refuses_with_503(monkeypatch, closed_port):
    monkeypatch.setenv("GOVERN_URL", f"http://127.0.0.1:{closed_port}")

    refused = refusal(chat_request())

    assert refused.code == "503"
    assert "(govern_unavailable)" in refused.message


def test_govern_failing_to_decide_refuses_with_503_and_its_reason(monkeypatch, failing_govern):
    monkeypatch.setenv("GOVERN_URL", failing_govern)

    refused = refusal(chat_request())

    assert refused.code == "503"
    assert "(decision_log_unavailable)" in refused.message


@pytest.mark.parametrize("path", ["/v1/embeddings", "/v1/audio/speech", "/key/generate", "/v1/models"])
def test_a_route_govern_does_not_decide_on_is_refused_without_asking(monkeypatch, closed_port, path):
    monkeypatch.setenv("GOVERN_URL", f"http://127.0.0.1:{closed_port}")

    refused = refusal(chat_request(path))

    assert refused.code == "403"
    assert "(no_route)" in refused.message


def test_a_request_naming_no_model_is_refused(monkeypatch, closed_port):
    monkeypatch.setenv("GOVERN_URL", f"http://127.0.0.1:{closed_port}")

    refused = refusal(chat_request(body={"messages": []}))

    assert refused.code == "400"
    assert "(model_missing)" in refused.message


def test_without_govern_url_nothing_is_let_through(monkeypatch):
    monkeypatch.delenv("GOVERN_URL", raising=False)

    with pytest.raises(RuntimeError, match="GOVERN_URL"):
        asyncio.run(hooks.user_api_key_auth(chat_request(), KEY))


@pytest.mark.parametrize(("path", "capability"), [
    ("/chat/completions", "generate"), ("/v1/chat/completions", "generate"), ("/v1/completions", "generate"),
    ("/v1/responses", "generate"), ("/openai/deployments/chat-standard/chat/completions", "generate"),
    ("/engines/open-7b/completions", "generate"), ("/v1/fine_tuning/jobs", "fine_tune"),
    ("/v1/embeddings", None), ("/v1/chat/completions/extra", None), ("/", None),
])
def test_each_route_is_asked_about_for_what_it_does(path, capability):
    assert hooks.capability_of(path) == capability


def test_importing_govern_does_not_import_litellm():
    code = ("import sys, govern, govern.cli, govern.serve, govern.integrations; govern.create_app; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'fastapi')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            check=True)

    assert result.stdout.strip() == "[]"
