"""An issuer's signing keys: its discovery document and JWKS, fetched over HTTP and cached.

Keys are fetched on first use and again after MAX_AGE. A token naming a key id the cache does not
hold makes one refetch, at most once per REFETCH_COOLDOWN: the provider has probably rotated its
keys, but a flood of made-up key ids must not turn into a flood of requests to the provider.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

log = logging.getLogger(__name__)

MAX_AGE = 3600.0
REFETCH_COOLDOWN = 30.0
# After a failed fetch, requests wait this long before trying the provider again.
FAILURE_BACKOFF = 5.0
FETCH_TIMEOUT = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched and none are cached."""


class UnknownKey(Exception):
    """The issuer does not publish a key with this id, even after a refetch."""


def _get_json(url: str, timeout: float) -> dict[str, Any]:
    response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
    response.raise_for_status()
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise ValueError(f"{url} answered more than {MAX_DOCUMENT_BYTES} bytes")
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"{url} did not answer a JSON object")
    return body


def _signing_keys(jwks: dict[str, Any]) -> dict[str | None, Key]:
    keys: dict[str | None, Key] = {}
    for raw in jwks.get("keys") or []:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
            continue  # encryption keys and shared secrets never verify a token here
        try:
            key = JWKRegistry.import_key(raw)
        except (JoseError, ValueError, TypeError):
            log.warning("skipping a key govern cannot read (kid %r)", raw.get("kid"))
            continue
        keys[raw.get("kid")] = key
    return keys


class IssuerKeys:
    """The cached keys of one issuer. Thread-safe; one fetch at a time."""

    def __init__(self, issuer: str, *, timeout: float = FETCH_TIMEOUT,
                 cooldown: float = REFETCH_COOLDOWN, max_age: float = MAX_AGE) -> None:
        self.issuer = issuer
        self._timeout = timeout
        self._cooldown = cooldown
        self._max_age = max_age
        self._keys: dict[str | None, Key] = {}
        self._fetched_at: float | None = None
        self._last_refetch = float("-inf")
        self._failed_at = float("-inf")
        self._lock = threading.Lock()
        self.fetches = 0  # how often the JWKS was fetched: an operator's figure and a test's

    def key(self, kid: str | None, now: float | None = None) -> Key:
        """The key with id `kid` (or the only key, for a token without one).

        Raises KeysUnavailable or UnknownKey."""
        now = time.monotonic() if now is None else now
        fetched_at = self._fetched_at
        if fetched_at is None or now - fetched_at >= self._max_age:
            self._refresh(now, stale=fetched_at)
        found = self._lookup(kid)
        if found is not None:
            return found
        with self._lock:
            found = self._lookup(kid)
            if found is not None or now - self._last_refetch < self._cooldown:
                if found is None:
                    raise UnknownKey(kid)
                return found
            self._last_refetch = now
            self._fetch(now)
        found = self._lookup(kid)
        if found is None:
            raise UnknownKey(kid)
        return found

    def _lookup(self, kid: str | None) -> Key | None:
        keys = self._keys
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        return keys.get(kid)

    def _refresh(self, now: float, *, stale: float | None) -> None:
        with self._lock:
            if self._fetched_at != stale:
                return  # another thread fetched meanwhile
            if now - self._failed_at < FAILURE_BACKOFF:
                if not self._keys:
                    raise KeysUnavailable("the last fetch failed moments ago")
                return
            try:
                self._fetch(now)
            except KeysUnavailable:
                self._failed_at = now
                if not self._keys:
                    raise
                # Keep verifying with the keys we have until the provider answers again.

    def _fetch(self, now: float) -> None:
        """Discovery document, then JWKS; replaces the cached keys. Call with the lock held."""
        self.fetches += 1
        discovery_url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            discovery = _get_json(discovery_url, self._timeout)
            if discovery.get("issuer") != self.issuer:
                raise ValueError(f"the discovery document names issuer {discovery.get('issuer')!r}")
            jwks_uri = discovery.get("jwks_uri")
            if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                raise ValueError("the discovery document has no jwks_uri")
            keys = _signing_keys(_get_json(jwks_uri, self._timeout))
        except (requests.RequestException, ValueError) as error:
            log.warning("could not fetch the signing keys of %s: %s", self.issuer, error)
            raise KeysUnavailable(str(error)) from None
        self._keys = keys
        self._fetched_at = now
