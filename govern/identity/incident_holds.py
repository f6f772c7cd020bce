"""The rule that a suspension made for an incident is lifted only after its post-incident review,
in the layer every lifting path shares: models, keys and organisations alike call check_lift
before they lift (govern.governance.incidents records the incidents, actions and reviews)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from govern.errors import Conflict
from govern.models import Incident, IncidentAction

POST_INCIDENT_REVIEW_REQUIRED = "post_incident_review_required"


def unreviewed_incidents(session: Session, target: str) -> list[Incident]:
    """The incidents holding a suspension of `target` (model:<name>, key:<prefix>, org:<id>) whose
    post-incident review has not reached its quorum, oldest first."""
    # A subquery rather than DISTINCT: PostgreSQL has no equality on the incident's JSON columns.
    holding = select(IncidentAction.incident_id).where(IncidentAction.target == target,
                                                       IncidentAction.holds.is_(True))
    return list(session.execute(
        select(Incident).where(Incident.id.in_(holding), Incident.reviewed_at.is_(None))
        .order_by(Incident.id)).scalars())


def check_lift(session: Session, target: str) -> None:
    """Raises Conflict (post_incident_review_required) while an incident holds `target`'s suspension."""
    waiting = unreviewed_incidents(session, target)
    if waiting:
        names = ", ".join(f"#{incident.id} {incident.title!r}" for incident in waiting)
        raise Conflict(f"this suspension was made for incident {names}: it is lifted only after the "
                       "incident's post-incident review by a quorum of reviewers",
                       code=POST_INCIDENT_REVIEW_REQUIRED)
