"""The Proposals page pages its decided proposals, newest first, fifty at a time."""

from __future__ import annotations

import re

from govern.governance.proposal_kinds import Change
from govern.governance.proposals import submit, withdraw
from govern.identity.issuers import create_issuer
from govern.identity.users import create_user

ISSUER = {"name": "corp", "issuer": "https://login.corp.example", "audiences": ["govern"],
          "default_tier": "free", "rules": []}


def test_decided_proposals_page_fifty_at_a_time_newest_first(signed_in, session, password):  # type: ignore[no-untyped-def]
    create_user(session, actor="test", username="ben", password=password, roles=frozenset({"admin"}))
    ann = signed_in("ann", "admin")
    create_issuer(session, ISSUER, actor="test")
    ids = []
    for number in range(53):
        change = Change("issuer.set", {"name": "corp", "doc": {**ISSUER, "default_tier": "trusted",
                                                                 "audiences": [f"govern-{number}"]}})
        outcome = submit(session, change, actor="user:ann")
        assert outcome.proposal is not None
        ids.append(withdraw(session, outcome.proposal.id, actor="user:ann").id)

    first = ann.get("/proposals").get_data(as_text=True)
    shown = [int(n) for n in re.findall(r'<td><a href="/proposals/(\d+)">', first)]
    assert shown == ids[::-1][:50]
    assert f'href="/proposals?before={ids[3]}"' in first
    second = ann.get(f"/proposals?before={ids[3]}").get_data(as_text=True)
    assert [int(n) for n in re.findall(r'<td><a href="/proposals/(\d+)">', second)] == ids[2::-1]
    assert "Older decided proposals" not in second
