"""Real Caddy with forward_auth to a real `govern serve`, in front of a tiny upstream on loopback.

The site is the Caddyfile snippet of docs/gateways.md, taken from the file as it is, with only the
addresses changed: the documentation is what is tested. The global options around it keep Caddy to
the test: no admin endpoint, no automatic HTTPS, 127.0.0.1 only, its files under tmp_path.
Caddy is Debian's package (tests/system-packages.sh).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from gateways import (
    check_govern_decides,
    check_reports_cannot_be_forged,
    documented_config,
    gateway_binary,
    limit_free_tier,
)

# The forward_auth wiring does not depend on the database behind govern (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only


def start_caddy(gateway, tmp_path: Path, port: int, govern_url: str,  # type: ignore[no-untyped-def]
                upstream_address: str) -> str:
    home = tmp_path / "caddy"
    site = documented_config("Caddy", "caddyfile", {
        ":8080 {": f":{port} {{",
        "forward_auth 127.0.0.1:8000": f"forward_auth {govern_url.removeprefix('http://')}",
        "reverse_proxy 127.0.0.1:9000": f"reverse_proxy {upstream_address}",
    })
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(f"""{{
	admin off
	auto_https off
	default_bind 127.0.0.1
	storage file_system {{
		root {home / 'storage'}
	}}
}}

{site}""")
    caddy = gateway_binary("caddy", Path("/usr/bin/caddy"))
    # Caddy keeps its autosaved configuration and data under the XDG folders (else under HOME).
    env = {**os.environ, "HOME": str(home), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data")}
    return gateway([caddy, "run", "--adapter", "caddyfile", "--config", str(caddyfile)],
                   f"http://127.0.0.1:{port}", env=env)


def test_caddy_forward_auth_lets_through_only_what_govern_allows(
        demo_instance, live_server, gateway, upstream, tmp_path: Path,
        port_finder: Callable[[], int]) -> None:  # type: ignore[no-untyped-def]
    limit_free_tier(demo_instance)
    govern = live_server(GOVERN_GATEWAY_KIND="caddy")
    url = start_caddy(gateway, tmp_path, port_finder(), govern.url, upstream.address)

    check_govern_decides(url, upstream, demo_instance.keys)
    check_reports_cannot_be_forged(url, upstream, demo_instance.keys)
