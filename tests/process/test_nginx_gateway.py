"""Real nginx with auth_request to a real `govern serve`, in front of a tiny upstream on loopback.

The nginx configuration is the snippet of docs/gateways.md, taken from the file as it is, with only
the addresses changed: the documentation is what is tested.
"""

from __future__ import annotations

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

# nginx's auth_request wiring does not depend on the database behind govern
# (run once, on SQLite).
pytestmark = pytest.mark.sqlite_only


def nginx_conf(folder: Path, listen: str, govern: str, upstream: str) -> str:
    snippet = documented_config("nginx", "nginx", {
        "127.0.0.1:8000": govern, "127.0.0.1:9000": upstream, "listen 8080;": f"listen {listen};"})
    temp = {name: folder / name for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
    for path in temp.values():
        path.mkdir()
    return f"""
daemon off;
master_process off;
worker_processes 1;
pid {folder / 'nginx.pid'};
error_log stderr;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {temp['client_body']};
    proxy_temp_path {temp['proxy']};
    fastcgi_temp_path {temp['fastcgi']};
    uwsgi_temp_path {temp['uwsgi']};
    scgi_temp_path {temp['scgi']};
{snippet}
}}
"""


def start_nginx(gateway, tmp_path: Path, port: int, govern_url: str,  # type: ignore[no-untyped-def]
                upstream_address: str) -> str:
    """nginx in the foreground with its own prefix and paths under tmp_path."""
    folder = tmp_path / "nginx"
    folder.mkdir()
    conf = folder / "nginx.conf"
    conf.write_text(nginx_conf(folder, f"127.0.0.1:{port}", govern_url.removeprefix("http://"),
                               upstream_address))
    nginx = gateway_binary("nginx", Path("/usr/sbin/nginx"))
    return gateway([nginx, "-p", str(folder), "-c", str(conf), "-e", "stderr"], f"http://127.0.0.1:{port}")


def test_nginx_auth_request_lets_through_only_what_govern_allows(
        demo_instance, live_server, gateway, upstream, tmp_path: Path,
        port_finder: Callable[[], int]) -> None:  # type: ignore[no-untyped-def]
    limit_free_tier(demo_instance)
    govern = live_server(GOVERN_GATEWAY_KIND="nginx")
    url = start_nginx(gateway, tmp_path, port_finder(), govern.url, upstream.address)

    check_govern_decides(url, upstream, demo_instance.keys)
    check_reports_cannot_be_forged(url, upstream, demo_instance.keys)
