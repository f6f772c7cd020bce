"""The organisations table's search: name contains (case-insensitive, wildcards taken literally),
tier and suspension filters, sorting by the policy's tier order, and pages clamped to the range."""

from __future__ import annotations

import pytest
from factories import make_org

from govern.errors import InvalidInput
from govern.identity.org_search import OrgQuery, search_orgs
from govern.identity.organisations import update_org


def names(session, query: OrgQuery, per_page: int = 25) -> list[str]:  # type: ignore[no-untyped-def]
    return [org.name for org in search_orgs(session, query, per_page).orgs]


def test_search_filters_and_sorts(session):  # type: ignore[no-untyped-def]
    for name, tier in (("beta", "internal"), ("Alpha", "free"), ("100%_labs", "trusted"), ("gamma", "free")):
        make_org(session, name, tier)
    update_org(session, "gamma", actor="test", suspended=True)
    assert names(session, OrgQuery()) == ["100%_labs", "Alpha", "beta", "gamma"]
    assert names(session, OrgQuery(q="ALP")) == ["Alpha"]
    assert names(session, OrgQuery(q="%")) == ["100%_labs"]
    assert names(session, OrgQuery(q="_")) == ["100%_labs"]
    assert names(session, OrgQuery(tier="free")) == ["Alpha", "gamma"]
    assert names(session, OrgQuery(suspended=True)) == ["gamma"]
    assert names(session, OrgQuery(suspended=False, sort="-name")) == ["beta", "Alpha", "100%_labs"]
    assert names(session, OrgQuery(sort="tier")) == ["Alpha", "gamma", "100%_labs", "beta"]
    assert names(session, OrgQuery(sort="nonsense")) == ["100%_labs", "Alpha", "beta", "gamma"]


def test_pages_are_clamped_and_an_unknown_tier_is_refused(session):  # type: ignore[no-untyped-def]
    for index in range(5):
        make_org(session, f"org-{index}", "free")
    last = search_orgs(session, OrgQuery(page=99), per_page=2)
    assert ([o.name for o in last.orgs], last.page, last.pages, last.total) == (["org-4"], 3, 3, 5)
    assert search_orgs(session, OrgQuery(page=0), per_page=2).page == 1
    with pytest.raises(InvalidInput, match="unknown tier 'gold'"):
        search_orgs(session, OrgQuery(tier="gold"))
