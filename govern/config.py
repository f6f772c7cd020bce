"""Settings read once from `GOVERN_*` environment variables into a typed, validated object.

Layer: bottom.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from govern.errors import ConfigError

KNOWN_WEAK_SECRETS = frozenset({"", "dev", "changeme", "secret", "change-me", "development"})
MIN_SECRET_LENGTH = 32
# Left to operators for single sign-on client secrets (an issuer's sso.client_secret_env names
# one): no setting of govern is, or may ever be, named under this prefix.
SSO_SECRET_PREFIX = "GOVERN_SSO_"
# GOVERN_GATEWAY_KIND: whose report of the original request /v1/authorize reads ("any": whichever
# is there, refusing two that disagree).
GATEWAY_KINDS = ("any", "nginx", "traefik", "caddy", "envoy")


@dataclass(frozen=True)
class Settings:
    env: str
    instance_path: Path
    database_url: str
    secret_key: str
    decision_log_timeout: float
    decision_log_queue_size: int
    refresh_interval: float
    host: str
    port: int
    workers: int
    threads: int
    access_log: bool
    cookie_secure: bool
    ratelimit_storage: str = ""
    routes_file: Path | None = None
    # Off: the admin UI takes single sign-on only (the break-glass password login is refused).
    local_login: bool = True
    decision_retention_days: int = 365
    signing_key: str | None = None  # Ed25519 private key (PEM or base64 seed); else one in instance/
    # "process": every worker's decision log commits through the machine's writer process (fast
    # under load, see govern.decisions.log_writer); "thread": in each worker (no extra process).
    decision_log_writer: str = "process"
    # SHA-256 (hex) of Casbin models accepted besides the shipped policies/model.conf.
    allowed_model_sha256: frozenset[str] = frozenset()
    # A second place for the audit trail's signed checkpoints, e.g. a volume another team owns.
    audit_checkpoint_dir: Path | None = None
    gateway_kind: str = "any"
    ops_require_key: bool = False
    # Where clients reach govern (scheme, host, port, any path prefix; no trailing slash): the
    # AuthZEN metadata names its endpoints from it, never from a request's Host header.
    public_url: str = ""
    # Unauthenticated attempts a source gets rows of its own for, per minute and worker; past it,
    # aggregate rows (govern.decisions.refusals).
    unauthenticated_rows_per_minute: int = 60
    # A signed-in admin UI session ends after this long without a request, and this long after
    # sign-in whatever the activity: a person removed from an IdP group signs in afresh.
    session_idle_minutes: float = 30
    session_max_hours: float = 12
    # ISO 4217 code of the costs reported with usage (POST /v1/usage); reports carry no currency.
    currency: str = "USD"
    # Notifications (govern.notifications): how far ahead "expiring" warns, and how often the
    # dispatcher looks for work; webhooks may aim at loopback or private addresses only when allowed.
    notify_expiring_days: int = 7
    notify_interval: float = 5.0
    notify_lease: float = 60.0  # seconds a dispatcher holds a delivery it is sending
    webhook_allow_private: bool = False
    smtp: SmtpSettings | None = None
    # Feedback and abuse reports are taken at POST /v1/feedback (GOVERN_FEEDBACK_INTAKE, default on);
    # the launch checklist's `feedback` check passes only while it is on.
    feedback_intake: bool = True

    @property
    def production(self) -> bool:
        return self.env == "production"


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification e-mail goes (GOVERN_SMTP_*); no host, no e-mail."""

    host: str
    port: int
    sender: str
    user: str = ""
    password: str = ""
    starttls: bool = True

def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, got {raw!r}")
    return value  # type: ignore[no-any-return]


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    """One of `choices`, the first by default."""
    value = environ.get(name) or choices[0]
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _currency(environ: Mapping[str, str]) -> str:
    value = environ.get("GOVERN_CURRENCY") or "USD"
    if not re.fullmatch(r"[A-Z]{3}", value):
        raise ConfigError(f"GOVERN_CURRENCY must be a three-letter ISO 4217 code such as USD, got {value!r}")
    return value


def _development_secret(instance_path: Path) -> str:
    """A secret kept in the instance folder, so every worker process and restart shares it."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _public_url(environ: Mapping[str, str], host: str, port: int) -> str:
    """GOVERN_PUBLIC_URL, checked; by default the address govern listens on."""
    raw = environ.get("GOVERN_PUBLIC_URL", "").strip()
    if not raw:
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"
    parts = urlsplit(raw)
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ConfigError(f"GOVERN_PUBLIC_URL has an invalid port, got {raw!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigError("GOVERN_PUBLIC_URL must be an http or https URL without query, fragment or "
                          f"credentials, e.g. https://pdp.example.com, got {raw!r}")
    return raw.rstrip("/")


def _switch(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    raise ConfigError(f"{name} must be on or off (or true/false, 1/0, yes/no), got {raw!r}")


SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


def _sha256_list(environ: Mapping[str, str], name: str) -> frozenset[str]:
    """Comma-separated SHA-256 digests in hex (case and spaces do not matter)."""
    digests = {item.strip().lower() for item in environ.get(name, "").split(",") if item.strip()}
    wrong = sorted(digest for digest in digests if not SHA256_HEX.match(digest))
    if wrong:
        raise ConfigError(f"{name} must list SHA-256 digests (64 hex digits), comma-separated; "
                          f"got {', '.join(repr(item) for item in wrong)}")
    return frozenset(digests)


def _smtp(environ: Mapping[str, str]) -> SmtpSettings | None:
    host = environ.get("GOVERN_SMTP_HOST", "").strip()
    if not host:
        return None
    sender = environ.get("GOVERN_SMTP_FROM", "").strip()
    if "@" not in sender:
        raise ConfigError(f"GOVERN_SMTP_FROM must be the address notifications come from, got {sender!r}")
    return SmtpSettings(host=host, port=int(_number(environ, "GOVERN_SMTP_PORT", 587, int)), sender=sender,
                        user=environ.get("GOVERN_SMTP_USER", ""),
                        password=environ.get("GOVERN_SMTP_PASSWORD", ""),
                        starttls=_switch(environ, "GOVERN_SMTP_STARTTLS", True))


def load_settings(environ: Mapping[str, str], default_instance_path: Path) -> Settings:
    """Read and check every setting; raises ConfigError with a one-line reason."""
    env = environ.get("GOVERN_ENV", "development")
    if env not in ("development", "production", "testing"):
        raise ConfigError(f"GOVERN_ENV must be development, production or testing, got {env!r}")
    instance_path = Path(environ.get("GOVERN_INSTANCE_PATH") or default_instance_path).resolve()
    database_url = environ.get("GOVERN_DATABASE_URL") or f"sqlite:///{instance_path / 'govern.db'}"
    if database_url.startswith(("postgresql://", "postgres://")):
        # The plain URL everyone writes; psycopg 3 is the driver govern ships with.
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]

    secret_key = environ.get("GOVERN_SECRET_KEY", "")
    if env == "production":
        if secret_key.lower() in KNOWN_WEAK_SECRETS or len(secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                "production mode needs GOVERN_SECRET_KEY: a random value of at least "
                f"{MIN_SECRET_LENGTH} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(48))')"
            )
    elif not secret_key:
        secret_key = _development_secret(instance_path)

    host = environ.get("GOVERN_HOST", "127.0.0.1")
    port = int(_number(environ, "GOVERN_PORT", 8000, int))
    return Settings(
        env=env,
        instance_path=instance_path,
        database_url=database_url,
        secret_key=secret_key,
        decision_log_timeout=_number(environ, "GOVERN_DECISION_LOG_TIMEOUT", 2.0, float),
        decision_log_queue_size=int(_number(environ, "GOVERN_DECISION_LOG_QUEUE", 10_000, int)),
        refresh_interval=_number(environ, "GOVERN_REFRESH_INTERVAL", 0.25, float),
        host=host,
        port=port,
        workers=int(_number(environ, "GOVERN_WORKERS", os.cpu_count() or 2, int)),
        threads=int(_number(environ, "GOVERN_THREADS", 8, int)),
        cookie_secure=_switch(environ, "GOVERN_COOKIE_SECURE", env == "production"),
        access_log=_switch(environ, "GOVERN_ACCESS_LOG", True),
        # The default counts in a file every worker on this machine shares; see govern.decisions.counters.
        ratelimit_storage=environ.get("GOVERN_RATELIMIT_STORAGE")
        or f"mmap://{instance_path / 'ratelimits.counters'}",
        routes_file=Path(environ["GOVERN_ROUTES_FILE"]) if environ.get("GOVERN_ROUTES_FILE") else None,
        local_login=_switch(environ, "GOVERN_LOCAL_LOGIN", True),
        decision_retention_days=int(_number(environ, "GOVERN_DECISION_RETENTION_DAYS", 365, int)),
        signing_key=environ.get("GOVERN_SIGNING_KEY") or None,
        decision_log_writer=_choice(environ, "GOVERN_DECISION_LOG_WRITER", ("process", "thread")),
        allowed_model_sha256=_sha256_list(environ, "GOVERN_ALLOWED_MODEL_SHA256"),
        audit_checkpoint_dir=Path(environ["GOVERN_AUDIT_CHECKPOINT_DIR"]).resolve()
        if environ.get("GOVERN_AUDIT_CHECKPOINT_DIR") else None,
        gateway_kind=_choice(environ, "GOVERN_GATEWAY_KIND", GATEWAY_KINDS),
        ops_require_key=_switch(environ, "GOVERN_OPS_REQUIRE_KEY", False),
        public_url=_public_url(environ, host, port),
        session_idle_minutes=_number(environ, "GOVERN_SESSION_IDLE_MINUTES", 30, float),
        session_max_hours=_number(environ, "GOVERN_SESSION_MAX_HOURS", 12, float),
        unauthenticated_rows_per_minute=int(_number(environ, "GOVERN_UNAUTHENTICATED_ROWS_PER_MINUTE",
                                                    60, int)),
        currency=_currency(environ),
        notify_expiring_days=int(_number(environ, "GOVERN_NOTIFY_EXPIRING_DAYS", 7, int)),
        notify_interval=_number(environ, "GOVERN_NOTIFY_INTERVAL", 5.0, float),
        notify_lease=_number(environ, "GOVERN_NOTIFY_LEASE_SECONDS", 60.0, float),
        webhook_allow_private=_switch(environ, "GOVERN_WEBHOOK_ALLOW_PRIVATE", False),
        smtp=_smtp(environ),
        feedback_intake=_switch(environ, "GOVERN_FEEDBACK_INTAKE", True),
    )
