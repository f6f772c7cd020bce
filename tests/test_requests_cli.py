"""`govern requests`: the host operator lists access requests, grants one at once (flagged
break_glass) or rejects one with a reason; a decided or unknown request is a one-line error."""

from __future__ import annotations

import re
from typing import Any

from factories import add_models, make_org
from sqlalchemy.orm import Session

from govern.governance import access_requests, proposals
from govern.governance.access_requests import Requester


def one_line_error(result: Any) -> str:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) == 1, result.output
    return str(result.output.strip())


def ask(session: Session, org_id: int) -> int:
    return access_requests.create_request(
        session, Requester(actor="key:gvk_000000000001", tier="verified", org_id=org_id),
        kind="capability", model="frontier-1", capability="generate", justification="a pilot",
        duration_seconds=3600).id


def test_requests_list_approve_reject(govern: Any, session: Session) -> None:
    add_models(session)
    org_id = make_org(session, "acme")
    granted, rejected = ask(session, org_id), ask(session, org_id)

    listed = govern("requests", "list", "--state", "pending").output.splitlines()
    assert [re.sub(r"\s+", " ", line.strip()) for line in listed] == [
        f"{rejected} pending acme capability trusted frontier-1 generate",
        f"{granted} pending acme capability trusted frontier-1 generate"]

    approved = govern("requests", "approve", str(granted), "--reason", "pilot")
    assert re.fullmatch(rf"access request {granted} granted until \S+\n", approved.output)
    info = access_requests.get_request(session, granted)
    assert info.proposal_id is not None
    assert proposals.get_proposal(session, info.proposal_id).route == "break_glass"

    assert govern("requests", "reject", str(rejected), "--reason", "no").output == \
        f"access request {rejected} rejected\n"
    assert access_requests.get_request(session, rejected).reason == "no"
    assert one_line_error(govern("requests", "approve", str(granted))) == \
        f"Error: access request {granted} is already granted"
    assert one_line_error(govern("requests", "reject", "999", "--reason", "x")) == \
        "Error: no access request 999"
