"""The organisations table of the admin UI: search by name, filter by tier and suspension, sort and
page, all in the database so a long list stays fast."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from govern.identity.organisations import OrgInfo, check_tier
from govern.models import Organisation
from govern.policy.store import current_document

PER_PAGE = 25
# Sort key -> (column, descending); "tier" follows the policy's order of tiers, not the alphabet.
SORTS = ("name", "-name", "tier", "-tier", "created", "-created")


@dataclass(frozen=True)
class OrgQuery:
    q: str = ""
    tier: str | None = None
    suspended: bool | None = None
    sort: str = "name"
    page: int = 1


@dataclass(frozen=True)
class OrgPage:
    orgs: list[OrgInfo]
    total: int
    page: int
    pages: int


def _order(session: Session, sort: str) -> list[ColumnElement[object]]:
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column: ColumnElement[object]
    if key == "tier":
        tiers = current_document(session).tiers
        column = case({tier: rank for rank, tier in enumerate(tiers)}, value=Organisation.tier,
                      else_=len(tiers))
    elif key == "created":
        column = Organisation.created_at  # type: ignore[assignment]
    else:
        column = Organisation.name  # type: ignore[assignment]
    return [column.desc() if descending else column.asc(), Organisation.id.asc()]  # type: ignore[list-item]


def search_orgs(session: Session, query: OrgQuery, per_page: int = PER_PAGE) -> OrgPage:
    """One page of the organisations matching `query` (a name containing `q`, case-insensitive);
    an unknown sort falls back to name, a page past the end to the last page. Raises InvalidInput
    (unknown_tier) for a tier filter the policy does not have."""
    where: list[ColumnElement[bool]] = []
    if query.q.strip():
        escaped = query.q.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(func.lower(Organisation.name).like(f"%{escaped}%", escape="\\"))
    if query.tier:
        where.append(Organisation.tier == check_tier(session, query.tier))
    if query.suspended is not None:
        where.append(Organisation.suspended.is_(query.suspended))
    total = session.execute(select(func.count()).select_from(Organisation).where(*where)).scalar_one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, query.page), pages)
    sort = query.sort if query.sort in SORTS else "name"
    rows = session.execute(select(Organisation).where(*where).order_by(*_order(session, sort))
                           .offset((page - 1) * per_page).limit(per_page)).scalars()
    return OrgPage([OrgInfo(o.id, o.name, o.tier, o.suspended, o.created_at) for o in rows],
                   total, page, pages)
