"""Real nginx with auth_request to a real `govern serve`, in front of a tiny upstream on loopback.

The nginx configuration is the snippet of docs/gateways.md, taken from the file as it is, with only
the addresses changed: the documentation is what is tested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

# nginx's auth_request wiring does not depend on the database behind govern
# (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateways.md"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
START_TIMEOUT = 10.0
FREE_PER_MINUTE = 3
DEPLOYMENT = "/openai/deployments/{model}/chat/completions"


# -- the upstream: records what reached it ----------------------------------------------------------
@dataclass
class Upstream:
    url: str
    seen: list[dict[str, str]] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the name http.server calls)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
            body = b'{"choices": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Upstream(f"127.0.0.1:{server.server_address[1]}", seen)
    server.shutdown()
    server.server_close()
    thread.join(5)


# -- nginx -------------------------------------------------------------------------------------------
def documented_nginx_snippet() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DOCS.read_text(), re.DOTALL)
    assert len(blocks) == 1, "docs/gateways.md should hold exactly one nginx snippet"
    return blocks[0]


def nginx_conf(folder: Path, listen: str, govern: str, upstream: str) -> str:
    snippet = documented_nginx_snippet()
    for documented, actual in (("127.0.0.1:8000", govern), ("127.0.0.1:9000", upstream),
                               ("listen 8080;", f"listen {listen};")):
        assert documented in snippet
        snippet = snippet.replace(documented, actual)
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log {folder / 'error.log'} info;
events {{ worker_connections 64; }}
http {{
    access_log {folder / 'access.log'};
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
{snippet}
}}
"""


@pytest.fixture
def nginx(tmp_path: Path, port_finder: Callable[[], int]) -> Iterator[Callable[[str, str], str]]:
    """Factory: `nginx(govern_url, upstream_address)` starts nginx in the foreground with its own
    prefix and paths under tmp_path; returns its base URL. Stopped after the test."""
    processes: list[subprocess.Popen[bytes]] = []
    folder = tmp_path / "nginx"
    folder.mkdir()

    def start(govern_url: str, upstream_address: str) -> str:
        port = port_finder()
        conf = folder / "nginx.conf"
        conf.write_text(nginx_conf(folder, f"127.0.0.1:{port}", govern_url.removeprefix("http://"),
                                   upstream_address))
        command = [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.STDOUT)
        processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            try:
                requests.get(f"{url}/nothing-here", timeout=2)
                return url
            except requests.ConnectionError:
                time.sleep(0.05)
        log = (folder / "error.log").read_text() if (folder / "error.log").exists() else ""
        pytest.fail(f"nginx did not start (exit {process.poll()}):\n{log}")

    yield start
    for process in processes:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# -- the test ------------------------------------------------------------------------------------------
def limit_free_tier(demo_instance) -> None:  # type: ignore[no-untyped-def]
    demo_instance.edit_policy(lambda document: document.update(
        rate_limits={"free": {"per_minute": FREE_PER_MINUTE}}))


def test_nginx_auth_request_lets_through_only_what_govern_allows(
        demo_instance, live_server, nginx, upstream, tmp_path):  # type: ignore[no-untyped-def]
    keys = demo_instance.keys
    limit_free_tier(demo_instance)
    demo_instance.govern("keys", "revoke", keys["verified"][:16])
    gateway = nginx(live_server().url, upstream.url)

    def call(model: str, key: str | None, **headers: str) -> requests.Response:
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return requests.post(gateway + DEPLOYMENT.format(model=model), json={"messages": []},
                             headers=headers, timeout=10)

    # Allowed, each with its tier; the client's own X-Govern-Tier is replaced.
    trusted = call("frontier-1", keys["trusted"], **{"X-Govern-Tier": "internal"})
    internal = call("research-preview", keys["internal"])
    free = call("open-7b", keys["free"])
    assert [r.status_code for r in (trusted, internal, free)] == [200, 200, 200]
    assert [seen["x-govern-tier"] for seen in upstream.seen] == ["trusted", "internal", "free"]
    assert [seen["x-govern-org"] for seen in upstream.seen] == ["demo-trusted", "demo-internal", "demo-free"]
    assert all(re.fullmatch(r"[0-9a-f]{26}", seen["x-govern-decision-id"]) for seen in upstream.seen)
    assert upstream.seen[0]["path"] == "/openai/deployments/frontier-1/chat/completions"

    # Denied: a tier too low, even when the client names an allowed model to govern.
    denied = call("frontier-1", keys["free"], **{"X-Govern-Model": "open-7b"})
    assert denied.status_code == 403
    assert denied.headers["X-Govern-Reason"] == "tier_too_low"
    assert denied.json()["code"] == "tier_too_low"
    assert "Retry-After" not in denied.headers

    # No key, a revoked key: 401 with govern's challenge.
    for key in (None, keys["verified"]):
        response = call("open-7b", key)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="govern"'

    # The free key has used 2 of its 3 a minute: one more passes, then 429 with Retry-After.
    assert call("open-7b", keys["free"]).status_code == 200
    limited = call("open-7b", keys["free"])
    assert limited.status_code == 429
    assert limited.headers["X-Govern-Reason"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json()["code"] == "rate_limited"

    # Only the four allowed requests reached the upstream.
    assert len(upstream.seen) == 4
    assert all(seen["x-govern-tier"] for seen in upstream.seen)
