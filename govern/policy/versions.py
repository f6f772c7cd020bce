"""Reading stored policy versions: the list, and one version as the decision explorer links to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.models import PolicyVersion
from govern.models.base import get_or_not_found


@dataclass(frozen=True)
class PolicyVersionView:
    version: int
    document: dict[str, Any]
    model_conf: str
    created_at: datetime
    actor: str
    comment: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "document": self.document, "model_conf": self.model_conf,
                "created_at": self.created_at.isoformat(), "actor": self.actor, "comment": self.comment}


def get_policy_version(session: Session, version: int) -> PolicyVersionView:
    row = get_or_not_found(session, PolicyVersion, version, f"no policy version {version}",
                           "policy_version_not_found")
    return PolicyVersionView(row.version, dict(row.document), row.model_conf, row.created_at, row.actor,
                             row.comment)


def list_policy_versions(session: Session, limit: int = 200) -> list[PolicyVersionView]:
    """The newest `limit` stored versions, newest first."""
    rows = session.execute(
        select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(limit)).scalars()
    return [PolicyVersionView(row.version, dict(row.document), row.model_conf, row.created_at, row.actor,
                              row.comment) for row in rows]
