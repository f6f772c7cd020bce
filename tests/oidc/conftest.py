"""A real OpenID Connect provider for the identity tests: oidc-provider (Node.js) on a free port of
127.0.0.1, started once per session from tests/oidc/provider (`npm ci` first if its node_modules
is missing) and always stopped.

The tests hold the provider's private signing keys (they write its JWKS file), so they can also
sign tokens the provider would never issue: expired, for another audience, from another issuer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from npm import installed

PROVIDER_DIR = Path(__file__).parent / "provider"
AUDIENCE = "https://govern.test/api"
CLIENT_ID, CLIENT_SECRET = "govern-tests", "govern-tests-secret"
CALLBACK = "http://127.0.0.1/callback"
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


@dataclass
class OidcProvider:
    """The running provider: its issuer URL, and the private keys it signs with (newest first)."""

    issuer: str
    jwks_file: Path
    process: subprocess.Popen[bytes]
    log_file: Path
    keys: list[RSAKey] = field(default_factory=list)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-4000:]

    def write_keys(self) -> None:
        self.jwks_file.write_text(json.dumps({"keys": [k.as_dict(private=True) for k in self.keys]}))

    def published_kids(self) -> list[str]:
        jwks = requests.get(f"{self.issuer}/jwks", timeout=HTTP_TIMEOUT).json()
        return [key["kid"] for key in jwks["keys"]]

    def rotate(self) -> str:
        """Sign with a new key from now on (the old one is still published); returns its kid."""
        kid = f"k{len(self.keys) + 1}-{secrets.token_hex(3)}"
        self.keys.insert(0, new_key(kid))
        self.write_keys()
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + START_TIMEOUT
        while kid not in self.published_kids():
            assert time.monotonic() < deadline, f"the provider did not load key {kid}\n{self.log()}"
            time.sleep(0.05)
        return kid

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A token signed with the provider's current key, as the provider would sign it."""
        key = self.keys[0]
        return jwt.encode({"alg": "RS256", "kid": key.kid, **header}, claims, key)

    def token_request(self, **data: str) -> dict[str, str]:
        response = requests.post(f"{self.issuer}/token", auth=(CLIENT_ID, CLIENT_SECRET), data=data,
                                 timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        tokens: dict[str, str] = response.json()
        return tokens

    def client_credentials_token(self) -> str:
        return self.token_request(grant_type="client_credentials", scope="api",
                                  resource=AUDIENCE)["access_token"]

    def user_tokens(self, login: str) -> dict[str, str]:
        """Signs `login` in through the provider's own pages (authorization code with PKCE) and
        returns the token response: a JWT access token for AUDIENCE and an ID token."""
        browser = requests.Session()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        page = browser.get(f"{self.issuer}/auth", timeout=HTTP_TIMEOUT, params={
            "client_id": CLIENT_ID, "redirect_uri": CALLBACK, "response_type": "code",
            "scope": "openid email groups api", "resource": AUDIENCE, "state": secrets.token_urlsafe(8),
            "nonce": secrets.token_urlsafe(8), "code_challenge": challenge, "code_challenge_method": "S256",
        })
        code = None
        for prompt, fields in (("login", {"login": login, "password": "any"}), ("consent", {})):
            action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            assert action is not None, page.text
            answer = browser.post(urljoin(page.url, action.group(1)), data={"prompt": prompt, **fields},
                                  allow_redirects=False, timeout=HTTP_TIMEOUT)
            while answer.is_redirect:
                target = urljoin(answer.url, answer.headers["Location"])
                if target.startswith(CALLBACK):
                    code = parse_qs(urlparse(target).query)["code"][0]
                    break
                answer = browser.get(target, allow_redirects=False, timeout=HTTP_TIMEOUT)
            if code:
                break
            page = answer
        assert code is not None, "the provider sent no authorization code"
        return self.token_request(grant_type="authorization_code", code=code, redirect_uri=CALLBACK,
                                  code_verifier=verifier)

    def register_client(self, redirect_uri: str) -> tuple[str, str]:
        """A confidential client registered with the provider (dynamic registration)."""
        response = requests.post(f"{self.issuer}/reg", timeout=HTTP_TIMEOUT, json={
            "redirect_uris": [redirect_uri], "grant_types": ["authorization_code"],
            "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
        })
        assert response.status_code == 201, response.text
        body = response.json()
        return body["client_id"], body["client_secret"]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    installed(PROVIDER_DIR, "oidc-provider")
    node = shutil.which("node")
    assert node is not None, "Node.js is needed to run the test identity provider"
    folder = tmp_path_factory.mktemp("oidc-provider")
    port = free_port()
    jwks_file, log_file = folder / "jwks.json", folder / "provider.log"
    keys = [new_key("k1")]
    jwks_file.write_text(json.dumps({"keys": [k.as_dict(private=True) for k in keys]}))
    log = log_file.open("wb")
    process = subprocess.Popen(
        [node, "provider.mjs"], cwd=PROVIDER_DIR, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "PORT": str(port), "JWKS_FILE": str(jwks_file), "AUDIENCE": AUDIENCE},
    )
    provider = OidcProvider(f"http://127.0.0.1:{port}", jwks_file, process, log_file, keys)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert provider.process.poll() is None, f"the provider exited\n{provider.log()}"
            try:
                if requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=1).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, f"the provider did not start\n{provider.log()}"
            time.sleep(0.1)
        yield provider
    finally:
        provider.process.terminate()
        try:
            provider.process.wait(10)
        except subprocess.TimeoutExpired:
            provider.process.kill()
            provider.process.wait(10)
        log.close()


def issuer_document(provider: OidcProvider, **overrides: Any) -> dict[str, Any]:
    """The test provider as a trusted issuer, with one rule of each kind."""
    return {
        "name": "testidp", "issuer": provider.issuer, "label": "Test IdP",
        "audiences": [AUDIENCE, CLIENT_ID], "default_tier": "free",
        "rules": [
            {"claim": "groups", "contains": "safety-researchers", "tier": "trusted"},
            {"email_domain": "example.org", "tier": "verified"},
            {"claim": "sub", "equals": CLIENT_ID, "tier": "internal"},
        ],
        **overrides,
    }


@pytest.fixture
def issuer_doc(oidc_provider: OidcProvider) -> dict[str, Any]:
    return issuer_document(oidc_provider)
