"""Trusted issuers and their claim-to-tier rules: list, add, replace, delete, import whole.

Every change is checked whole against the live policy's tiers, bumps the `issuers` change counter
(the configuration version every worker polls) and appends an audit event with the document before
and after, in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.audit.trail import record_event
from govern.errors import Conflict, InvalidInput, NotFound
from govern.identity.issuer_config import IssuerConfig, parse_issuer, parse_rules
from govern.models import ChangeCounter, IdentityIssuer
from govern.models.base import utcnow
from govern.models.change_counter import ISSUERS, bump_counter
from govern.policy.store import current_document

# The audit target of `import_issuers`: it changes every issuer at once.
ALL_ISSUERS = "issuers"


@dataclass(frozen=True, slots=True)
class StoredIssuer:
    """An issuer's configuration and its revision: 1 when added, one more with each change."""

    config: IssuerConfig
    revision: int
    updated_at: datetime


def issuer_target(name: str) -> str:
    """The audit events about issuer `name` name this target."""
    return f"issuer:{name}"


def configuration_version(session: Session) -> int:
    """The version of the issuer configuration: it moves with every change."""
    return session.execute(select(ChangeCounter.value).where(ChangeCounter.name == ISSUERS)).scalar_one()


def _stored(row: IdentityIssuer) -> StoredIssuer:
    return StoredIssuer(config=parse_issuer(row.config, None), revision=row.revision,
                        updated_at=row.updated_at)


def stored_issuers(session: Session) -> list[StoredIssuer]:
    rows = session.execute(select(IdentityIssuer).order_by(IdentityIssuer.name)).scalars()
    return [_stored(row) for row in rows]


def list_issuers(session: Session) -> list[IssuerConfig]:
    return [stored.config for stored in stored_issuers(session)]


def load_issuers(engine: Engine) -> list[IssuerConfig]:
    """The stored issuers, read outside any request (the decision runtime's watcher)."""
    with Session(engine) as session:
        return list_issuers(session)


def _find(session: Session, name: str) -> IdentityIssuer:
    row = session.execute(select(IdentityIssuer).where(IdentityIssuer.name == name)).scalar()
    if row is None:
        raise NotFound(f"no issuer named {name!r}", code="issuer_not_found")
    return row


def stored_issuer(session: Session, name: str) -> StoredIssuer:
    """Issuer `name` with its revision; NotFound if there is none."""
    return _stored(_find(session, name))


def get_issuer(session: Session, name: str) -> IssuerConfig:
    return stored_issuer(session, name).config


def _checked(session: Session, doc: object) -> IssuerConfig:
    return parse_issuer(doc, current_document(session).tiers)


def _commit(session: Session, *, actor: str, action: str, target: str,
            before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict("another issuer already has this name or issuer URL", code="issuer_exists") from None
    version = bump_counter(session, ISSUERS)
    record_event(session, actor=actor, action=action, target=target, before=before,
                 after={**after, "version": version} if after is not None else {"version": version})
    session.commit()
    return version


def create_issuer(session: Session, doc: object, *, actor: str) -> IssuerConfig:
    config = _checked(session, doc)
    session.add(IdentityIssuer(name=config.name, issuer=config.issuer, config=config.as_dict()))
    _commit(session, actor=actor, action="issuer.create", target=issuer_target(config.name),
            before=None, after=config.as_dict())
    return config


def replace_issuer(session: Session, name: str, doc: object, *, actor: str) -> IssuerConfig:
    """Replace the whole document of issuer `name` (its name stays)."""
    row = _find(session, name)
    if not isinstance(doc, dict):
        raise InvalidInput("an issuer must be an object", code="invalid_issuer")
    if doc.get("name", name) != name:
        raise InvalidInput("an issuer keeps its name; delete it and add a new one to rename",
                           code="invalid_issuer")
    config = _checked(session, {**doc, "name": name})
    before = row.config
    row.issuer, row.config = config.issuer, config.as_dict()
    row.revision += 1
    row.updated_at = utcnow()
    _commit(session, actor=actor, action="issuer.update", target=issuer_target(name), before=before,
            after=config.as_dict())
    return config


def set_rules(session: Session, name: str, rules: object, *, actor: str) -> IssuerConfig:
    """Replace the ordered claim-to-tier rules of issuer `name`."""
    parse_rules(rules, current_document(session).tiers)
    return replace_issuer(session, name, {**_find(session, name).config, "rules": rules}, actor=actor)


def delete_issuer(session: Session, name: str, *, actor: str) -> None:
    row = _find(session, name)
    before = row.config
    session.delete(row)
    _commit(session, actor=actor, action="issuer.delete", target=issuer_target(name), before=before,
            after=None)


def parse_issuer_list(session: Session, docs: object) -> list[IssuerConfig]:
    """The issuers of a whole configuration, checked whole against the live policy's tiers."""
    if not isinstance(docs, list):
        raise InvalidInput("'issuers' must be a list of issuers", code="invalid_issuer")
    tiers = current_document(session).tiers
    configs = []
    for index, doc in enumerate(docs):
        try:
            configs.append(parse_issuer(doc, tiers))
        except InvalidInput as error:
            raise InvalidInput(f"issuers[{index}]: {error.message}", code=error.code) from None
    for key in ("name", "issuer"):
        values = [getattr(c, key) for c in configs]
        if len(set(values)) != len(values):
            raise InvalidInput(f"two issuers share a {key}", code="issuer_exists")
    return configs


def import_issuers(session: Session, docs: object, *, actor: str) -> int:
    """Make the stored issuers exactly `docs` (the config file), as one new version; returns it.

    Checked whole first: one bad entry changes nothing."""
    configs = parse_issuer_list(session, docs)
    before = [parse_issuer(row.config, None).as_dict()
              for row in session.execute(select(IdentityIssuer)).scalars()]
    for row in session.execute(select(IdentityIssuer)).scalars():
        session.delete(row)
    session.flush()
    for config in configs:
        session.add(IdentityIssuer(name=config.name, issuer=config.issuer, config=config.as_dict()))
    return _commit(session, actor=actor, action="issuer.import", target=ALL_ISSUERS,
                   before={"issuers": before}, after={"issuers": [c.as_dict() for c in configs]})
