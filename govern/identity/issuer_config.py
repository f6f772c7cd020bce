"""The configuration of one trusted issuer, checked whole, and its ordered claim-to-tier rules.

An issuer document (admin API body, one entry of the config file):

    name: corp                         # short id: letters, digits, '-'
    issuer: https://login.example.org  # exactly the tokens' `iss` and the discovery document's `issuer`
    label: Example SSO                 # shown as "Sign in with Example SSO"
    audiences: [https://govern.example.org/api]
    algorithms: [RS256]                # optional; asymmetric algorithms only
    default_tier: free
    rules:                             # first match wins
      - {claim: groups, contains: safety-researchers, tier: trusted}
      - {email_domain: example.org, tier: verified}
      - {claim: client_id, equals: batch-service, tier: internal}
    sso:                               # optional: admin UI sign-in through this issuer
      client_id: govern-admin
      client_secret_env: GOVERN_SSO_CORP_SECRET
      groups_claim: groups
      roles: {govern-admins: [admin], govern-auditors: [auditor]}
      authoritative_domains: [example.org]  # optional: see govern.identity.sso_accounts

Secrets are never part of a document: `client_secret_env` names the environment variable, and
only a name under GOVERN_SSO_ will do, so that a document can never send one of govern's own
secrets (the session-signing key, say) to a token endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from govern.config import SSO_SECRET_PREFIX
from govern.errors import InvalidInput, echo, shorten

# Asymmetric only: "none" proves nothing, and HMAC would let anyone holding the public key sign.
ALLOWED_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
                      "EdDSA")
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
UI_ROLES = ("admin", "reviewer", "approver", "board", "auditor")
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
SECRET_ENV_NAME = re.compile(rf"^{SSO_SECRET_PREFIX}[A-Z0-9_]{{1,80}}$")
MAX_RULES = 100
MAX_TEXT = 500
DOCUMENT_KEYS = frozenset({"name", "issuer", "label", "audiences", "algorithms", "default_tier", "rules",
                           "sso", "enabled"})
SSO_KEYS = frozenset({"client_id", "client_secret_env", "groups_claim", "roles", "scopes",
                      "authoritative_domains"})
LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
DOMAIN = re.compile(rf"^(?=.{{1,253}}$){LABEL}(\.{LABEL})+$")


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """`claim` contains / equals `value`, or a verified email in `email_domain`, gives `tier`."""

    tier: str
    claim: str | None = None
    contains: str | None = None
    equals: str | None = None
    email_domain: str | None = None

    def matches(self, claims: Mapping[str, Any]) -> bool:
        if self.email_domain is not None:
            email = claims.get("email")
            return (claims.get("email_verified") is True and isinstance(email, str)
                    and email.rpartition("@")[2].lower() == self.email_domain)
        value = claims.get(self.claim or "")
        if self.contains is not None:
            return isinstance(value, list) and self.contains in value
        return isinstance(value, str) and value == self.equals

    def as_dict(self) -> dict[str, str]:
        if self.email_domain is not None:
            return {"email_domain": self.email_domain, "tier": self.tier}
        test, value = ("contains", self.contains) if self.contains is not None else ("equals", self.equals)
        return {"claim": self.claim or "", test: value or "", "tier": self.tier}


@dataclass(frozen=True, slots=True)
class SsoConfig:
    client_id: str
    client_secret_env: str
    groups_claim: str
    roles: tuple[tuple[str, tuple[str, ...]], ...]
    scopes: str
    # E-mail domains this issuer speaks for: its verified addresses there link to existing people.
    authoritative_domains: tuple[str, ...] = ()

    def roles_for(self, groups: object) -> frozenset[str]:
        """The UI roles the identity provider's groups grant (none for anything not a list)."""
        held = set(groups) if isinstance(groups, list) else set()
        return frozenset(role for group, roles in self.roles if group in held for role in roles)

    def as_dict(self) -> dict[str, Any]:
        return {"client_id": self.client_id, "client_secret_env": self.client_secret_env,
                "groups_claim": self.groups_claim, "scopes": self.scopes,
                "roles": {group: list(roles) for group, roles in self.roles},
                "authoritative_domains": list(self.authoritative_domains)}


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    name: str
    issuer: str
    label: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    default_tier: str
    rules: tuple[ClaimRule, ...]
    sso: SsoConfig | None
    enabled: bool

    def tier_for(self, claims: Mapping[str, Any]) -> str:
        """The tier of the first rule the claims match, else the issuer's default tier."""
        for rule in self.rules:
            if rule.matches(claims):
                return rule.tier
        return self.default_tier

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "issuer": self.issuer, "label": self.label,
                "audiences": list(self.audiences), "algorithms": list(self.algorithms),
                "default_tier": self.default_tier, "rules": [r.as_dict() for r in self.rules],
                "sso": self.sso.as_dict() if self.sso else None, "enabled": self.enabled}


def _fail(message: str, code: str = "invalid_issuer") -> InvalidInput:
    return InvalidInput(message, code=code)


def _text(doc: Mapping[str, Any], key: str, where: str, *, required: bool = True,
          default: str = "") -> str:
    value = doc.get(key)
    if value is None and not required:
        return default
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise _fail(f"{where}{echo(key)} must be a string of 1 to {MAX_TEXT} characters")
    return value.strip()


def _texts(doc: Mapping[str, Any], key: str, where: str, default: Collection[str] = ()) -> tuple[str, ...]:
    value = doc.get(key)
    if value is None and default:
        return tuple(default)
    if isinstance(value, str):
        value = [value]
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) and 0 < len(v) <= MAX_TEXT for v in value)):
        raise _fail(f"{where}{echo(key)} must be a non-empty list of strings")
    return tuple(dict.fromkeys(value))


def _tier(value: object, tiers: Collection[str] | None, where: str) -> str:
    # tiers=None: a stored document read back, checked when it was saved (the policy may have moved on).
    if not isinstance(value, str) or (tiers is not None and value not in tiers):
        raise _fail(f"{where}tier {echo(value)} is not a tier of the policy ({', '.join(tiers or ())})",
                    code="unknown_tier")
    return value


def parse_rule(raw: object, tiers: Collection[str] | None, index: int) -> ClaimRule:
    where = f"rules[{index}]: "
    if not isinstance(raw, dict):
        raise _fail(f"{where}a rule must be an object", code="invalid_rule")
    unknown = sorted(set(raw) - {"claim", "contains", "equals", "email_domain", "tier"})
    tests = [key for key in ("contains", "equals", "email_domain") if key in raw]
    if unknown or len(tests) != 1:
        raise _fail(f"{where}a rule has a tier and exactly one of contains, equals (each with claim) "
                    "or email_domain", code="invalid_rule")
    tier = _tier(raw.get("tier"), tiers, where)
    if tests == ["email_domain"]:
        if "claim" in raw:
            raise _fail(f"{where}email_domain rules read the email claims; drop 'claim'", code="invalid_rule")
        domain = _text(raw, "email_domain", where).lower().lstrip("@")
        return ClaimRule(tier=tier, email_domain=domain)
    claim = _text(raw, "claim", where)
    value = _text(raw, tests[0], where)
    return ClaimRule(tier=tier, claim=claim, **{tests[0]: value})


def parse_rules(raw: object, tiers: Collection[str] | None) -> tuple[ClaimRule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > MAX_RULES:
        raise _fail(f"'rules' must be a list of at most {MAX_RULES} rules", code="invalid_rule")
    return tuple(parse_rule(rule, tiers, index) for index, rule in enumerate(raw))


def _sso(raw: object) -> SsoConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - SSO_KEYS:
        raise _fail(f"'sso' must be an object with {', '.join(sorted(SSO_KEYS))}")
    secret_env = _text(raw, "client_secret_env", "sso: ")
    if not ENV_NAME.match(secret_env):
        raise _fail("sso: 'client_secret_env' names an environment variable (A-Z, 0-9, _), "
                    "never the secret itself")
    roles = raw.get("roles") or {}
    if not isinstance(roles, dict) or not all(
            isinstance(group, str) and isinstance(names, list) and names
            and all(isinstance(n, str) for n in names) for group, names in roles.items()):
        raise _fail("sso: 'roles' maps each group to a non-empty list of roles")
    unknown = sorted({n for names in roles.values() for n in names} - set(UI_ROLES))
    if unknown:
        raise _fail(f"sso: unknown role {shorten(', '.join(unknown))}; roles are {', '.join(UI_ROLES)}",
                    code="unknown_role")
    domains = raw.get("authoritative_domains") or []
    if not isinstance(domains, list) or not all(isinstance(d, str) and DOMAIN.match(d.lower().lstrip("@"))
                                                for d in domains):
        raise _fail("sso: 'authoritative_domains' is a list of e-mail domains, e.g. [example.org]",
                    code="invalid_domain")
    return SsoConfig(
        authoritative_domains=tuple(dict.fromkeys(d.lower().lstrip("@") for d in domains)),
        client_id=_text(raw, "client_id", "sso: "), client_secret_env=secret_env,
        groups_claim=_text(raw, "groups_claim", "sso: ", required=False, default="groups"),
        roles=tuple((group, tuple(names)) for group, names in roles.items()),
        scopes=_text(raw, "scopes", "sso: ", required=False, default="openid email profile groups"),
    )


def check_secret_env(name: str) -> str:
    """`name` if an SSO client secret may be read from it: GOVERN_SSO_ and more, which is never
    one of govern's own settings; InvalidInput otherwise."""
    if not SECRET_ENV_NAME.match(name):
        raise _fail(f"sso: 'client_secret_env' must name an environment variable starting with "
                    f"{SSO_SECRET_PREFIX} (A-Z, 0-9, _), e.g. {SSO_SECRET_PREFIX}CORP_SECRET; "
                    f"{echo(name)} is not one", code="invalid_secret_env")
    return name


def check_name(name: str) -> str:
    """`name` if it is a valid issuer name; InvalidInput otherwise."""
    if not NAME.match(name):
        raise _fail("'name' must be 1 to 60 lowercase letters, digits or '-'")
    return name


def check_issuer_url(issuer: str) -> str:
    """`issuer` if it is an http(s) URL that can be a token's `iss`; InvalidInput otherwise."""
    try:
        parts = urlsplit(issuer)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = urlsplit("")
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise _fail("'issuer' must be the issuer's http(s) URL, exactly as in its tokens")
    return issuer


def parse_issuer(doc: object, tiers: Collection[str] | None) -> IssuerConfig:
    """Check a whole issuer document (and its tiers against `tiers`, unless None); InvalidInput
    names the mistake. tiers=None reads a stored document back: one saved before the rules on
    `client_secret_env` still loads (so it can be seen and fixed), and sign-in refuses it."""
    if not isinstance(doc, dict):
        raise _fail("an issuer must be an object")
    unknown = sorted(set(doc) - DOCUMENT_KEYS)
    if unknown:
        raise _fail(f"unknown field {shorten(', '.join(map(str, unknown)))}")
    name = check_name(_text(doc, "name", ""))
    issuer = check_issuer_url(_text(doc, "issuer", ""))
    algorithms = _texts(doc, "algorithms", "", DEFAULT_ALGORITHMS)
    refused = [alg for alg in algorithms if alg not in ALLOWED_ALGORITHMS]
    if refused:
        raise _fail(f"algorithm {shorten(', '.join(refused))} is not allowed; choose from "
                    f"{', '.join(ALLOWED_ALGORITHMS)}", code="invalid_algorithm")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail("'enabled' must be true or false")
    sso = _sso(doc.get("sso"))
    if sso is not None and tiers is not None:
        check_secret_env(sso.client_secret_env)
    return IssuerConfig(
        name=name, issuer=issuer, label=_text(doc, "label", "", required=False, default=name),
        audiences=_texts(doc, "audiences", ""), algorithms=algorithms,
        default_tier=_tier(doc.get("default_tier"), tiers, "default_"),
        rules=parse_rules(doc.get("rules"), tiers), sso=sso, enabled=enabled,
    )
