"""The snapshot a decision process answers with, built from the stored policy versions.

The newest version is held to the rules a version is stored under (an allowed model, a valid
document, a matcher that evaluates); a version that breaks them — edited in the database behind
govern's back, or allowed by a host setting since withdrawn — is never served. Then the last good
policy stays in force, rebuilt with the governance facts of now, so suspensions and sign-off
changes still reach every process; the failure is reported, never raised to a caller.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import GovernError, NotFound
from govern.models import PolicyVersion
from govern.policy.allowed_models import check_model_allowed
from govern.policy.document import PolicyDocument, parse_document
from govern.policy.snapshot import PolicySnapshot
from govern.types import ModelAccess


@dataclass(frozen=True)
class BuildFailure:
    """Why the newest policy version (None: no particular version) is not the one in force."""

    version: int | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "reason": self.reason}


@dataclass(frozen=True)
class SnapshotBuild:
    snapshot: PolicySnapshot
    failure: BuildFailure | None  # set when `snapshot` is not the newest version


class NoPolicyBuilds(GovernError):
    """No stored policy version can be served; `failure` says why the newest cannot."""

    status = 503
    code = "policy_not_loaded"

    def __init__(self, failure: BuildFailure) -> None:
        super().__init__(f"no stored policy version can be built; version {failure.version}: "
                         f"{failure.reason}")
        self.failure = failure


def describe(error: Exception) -> str:
    """One line saying what went wrong, for /readyz, /v1/status and the log."""
    return error.message if isinstance(error, GovernError) else f"{type(error).__name__}: {error}"


def build_version(version: int, document: PolicyDocument | Mapping[str, Any], model_conf: str,
                  governed: Mapping[str, ModelAccess], valid_until: float = math.inf) -> PolicySnapshot:
    """A warmed snapshot of one policy; raises PolicyRejected (or whatever Casbin raises) if it
    cannot be served."""
    check_model_allowed(model_conf)
    parsed = document if isinstance(document, PolicyDocument) else parse_document(document)
    snapshot = PolicySnapshot(version, parsed, model_conf, governed, valid_until)
    snapshot.warm()
    return snapshot


def build_in_force(session: Session, governed: Mapping[str, ModelAccess], valid_until: float,
                   last_good: PolicySnapshot | None) -> SnapshotBuild:
    """The snapshot of the newest stored version; if that cannot be built, the last good policy
    with `governed` and the failure: `last_good` (the policy in force in this process) when there
    is one, else (at start) the newest stored version that builds. Raises NotFound when no policy
    is stored, NoPolicyBuilds when none can be built."""
    newest = session.execute(
        select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1)).scalar()
    if newest is None:
        raise NotFound("no policy has been loaded yet: run `govern init`", code="policy_missing")
    try:
        return SnapshotBuild(build_version(newest.version, newest.document, newest.model_conf,
                                           governed, valid_until), None)
    except Exception as error:
        failure = BuildFailure(newest.version, describe(error))
    if last_good is not None:
        return SnapshotBuild(build_version(last_good.version, last_good.document, last_good.model_conf,
                                           governed, valid_until), failure)
    older = session.execute(select(PolicyVersion.version).where(PolicyVersion.version < newest.version)
                            .order_by(PolicyVersion.version.desc())).scalars().all()
    for version in older:
        row = session.get(PolicyVersion, version)
        if row is None:  # deleted meanwhile
            continue
        try:
            return SnapshotBuild(build_version(row.version, row.document, row.model_conf, governed,
                                               valid_until), failure)
        except Exception:  # broken too: try the one before
            continue
    raise NoPolicyBuilds(failure)
