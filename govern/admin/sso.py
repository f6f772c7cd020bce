"""Single sign-on to the admin UI: "Sign in with <provider>" for every trusted issuer with an `sso`
section, through Authlib's Flask client (authorization code with PKCE; state and nonce checked).

The provider's groups map onto UI roles (see govern.identity.issuer_config). With
GOVERN_LOCAL_LOGIN=off the password form is gone and /login offers single sign-on only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from typing import Any

from authlib.integrations.base_client import OAuthError
from flask import Blueprint, Flask, current_app, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from govern.api.auth import start_session
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session, oauth
from govern.identity.issuer_config import IssuerConfig, check_secret_env
from govern.identity.issuers import list_issuers
from govern.identity.sso_accounts import sign_in_identity

log = logging.getLogger(__name__)

bp = Blueprint("sso", __name__, url_prefix="/login/sso")


def providers() -> list[IssuerConfig]:
    """Enabled issuers that offer admin sign-in, for the login page."""
    return [c for c in list_issuers(current_session()) if c.enabled and c.sso is not None]


def _provider(name: str) -> IssuerConfig | None:
    return next((c for c in providers() if c.name == name), None)


def _client(config: IssuerConfig) -> Any:
    """Authlib's client for this configuration (a changed configuration gets a new client)."""
    assert config.sso is not None
    try:
        secret_env = check_secret_env(config.sso.client_secret_env)  # a document stored before the rule
    except InvalidInput as refused:
        raise GovernError(refused.message, code="sso_not_configured") from None
    secret = os.environ.get(secret_env)
    if not secret:
        raise GovernError(f"{config.sso.client_secret_env} is not set in the environment",
                          code="sso_not_configured")
    # The same name in every worker process: the state kept in the session is filed under it.
    digest = hashlib.sha256(json.dumps(config.as_dict(), sort_keys=True).encode()).hexdigest()
    key = f"{config.name}-{digest[:16]}"
    client = oauth.create_client(key)
    if client is None:
        client = oauth.register(
            key, client_id=config.sso.client_id, client_secret=secret,
            server_metadata_url=config.issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": config.sso.scopes, "code_challenge_method": "S256"},
        )
    return client


def _refused(message: str, status: int) -> tuple[str, int]:
    return render_template("auth/sso_refused.html", message=message), status


def _id_token_alg(token: dict[str, Any]) -> object:
    try:
        header = token["id_token"].split(".")[0]
        return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg")
    except (KeyError, AttributeError, binascii.Error, ValueError):
        return None


@bp.get("/<name>")
def start(name: str) -> Response | tuple[str, int]:
    config = _provider(name)
    if config is None:
        return _refused("There is no sign-in provider of that name.", 404)
    try:
        client = _client(config)
        # Authlib makes the state, the nonce (openid scope) and the PKCE verifier and keeps them
        # in the session until the provider sends the browser back.
        redirected: Response = client.authorize_redirect(url_for("sso.callback", name=name, _external=True))
        return redirected
    except GovernError as error:
        log.error("single sign-on with %s is not configured: %s", name, error.message)
        return _refused("Single sign-on with this provider is not configured; ask an administrator.", 503)


@bp.get("/<name>/callback")
def callback(name: str) -> Response | tuple[str, int]:
    config = _provider(name)
    if config is None or config.sso is None:
        return _refused("There is no sign-in provider of that name.", 404)
    try:
        token = _client(config).authorize_access_token()
    except (OAuthError, GovernError, ValueError, KeyError) as error:
        log.warning("single sign-on with %s failed: %s", name, error)
        return _refused("The sign-in did not complete (it may have expired or been tampered with). "
                        "Please try again.", 401)
    claims = token.get("userinfo")
    if not claims or _id_token_alg(token) not in config.algorithms:
        return _refused("The provider's answer carried no acceptable ID token.", 401)
    subject = claims.get("sub")
    username = claims.get("preferred_username") or claims.get("email") or subject
    roles = config.sso.roles_for(claims.get(config.sso.groups_claim))
    try:
        name = claims.get("name")
        user = sign_in_identity(current_session(), issuer=config.issuer, subject=str(subject),
                                username=str(username), roles=roles, email=claims.get("email"),
                                email_verified=claims.get("email_verified"),
                                display_name=name if isinstance(name, str) else None,
                                authoritative_domains=config.sso.authoritative_domains)
    except GovernError as error:
        return _refused(f"{error.message}.", error.status)
    start_session(user)
    return redirect(url_for("auth.home"))


def _local_login_off() -> str | tuple[str, int] | None:
    """With local login switched off, /login offers single sign-on only and refuses passwords."""
    if request.endpoint != "auth.login" or current_app.extensions["govern.settings"].local_login:
        return None
    if request.method != "GET":
        return _refused("Password sign-in is switched off; use single sign-on.", 403)
    return render_template("auth/sso_only.html")


def register(app: Flask) -> None:
    oauth.init_app(app)
    # First of all hooks: a password post is refused as such, before CSRF or anything else looks at it.
    app.before_request_funcs.setdefault(None, []).insert(0, _local_login_off)
    app.jinja_env.globals["sso_providers"] = providers
    app.register_blueprint(bp)
