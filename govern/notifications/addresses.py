"""Where a webhook may point. An admin could aim one at a service inside the network (server-side
request forgery), so loopback, private, link-local and other non-public addresses are refused unless
GOVERN_WEBHOOK_ALLOW_PRIVATE is on: when the URL is registered, and again before every delivery
(a name can be re-pointed after it was checked)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from govern.errors import InvalidInput, shorten

MAX_URL = 2000


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, stripped, if it is http(s) and reaches only public addresses; raises InvalidInput."""
    url = url.strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput(f"the webhook URL has an invalid port: {shorten(url)}",
                           code="invalid_url") from None
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname \
            or parts.username or parts.password or parts.fragment:
        raise InvalidInput("a webhook URL is http:// or https://, with a host and without credentials "
                           f"or fragment, at most {MAX_URL} characters: {shorten(url)}", code="invalid_url")
    check_host(parts.hostname, allow_private=allow_private)
    return url


def check_host(host: str, *, allow_private: bool) -> None:
    """Raises InvalidInput if `host` does not resolve, or resolves to a non-public address."""
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(f"the webhook host {shorten(host)} does not resolve", code="invalid_url") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            raise InvalidInput(f"the webhook host {shorten(host)} is a loopback, private or reserved "
                               f"address ({address}); set GOVERN_WEBHOOK_ALLOW_PRIVATE=on to allow it",
                               code="private_address")
