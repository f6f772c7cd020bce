"""The model page over HTTP after a reversal: the hold says what it waits for, the board releases it,
and signing off, reversing and suspending each show what they will do and act only once confirmed,
then say what they did. The sign-off preview is computed by the service from policy and sign-off."""

from __future__ import annotations

import dataclasses
import re
from html import unescape

from factories import make_escalation_path, make_governed_model, make_launch_ready, ready_sign_off
from sqlalchemy import select

from govern.governance.holds import release_hold
from govern.governance.presets import get_preset, presets
from govern.governance.preview import TierPreview, sign_off_preview
from govern.governance.reviews import record_review
from govern.governance.signoffs import reverse_sign_off
from govern.governance.suspension import suspend_model
from govern.models import AuditEvent, GovernedModel, SignOff

HELD = re.compile(r"Held since the board's reversal on \d{4}-\d\d-\d\d \d\d:\d\d UTC: ")


def review(session, model: GovernedModel, *reviewers: str, tier: str = "verified") -> None:  # type: ignore[no-untyped-def]
    for reviewer in reviewers:
        record_review(session, actor=reviewer, model=model, recommendation="open", tier=tier, rationale="ok")


def reversed_model(session) -> GovernedModel:  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    reverse_sign_off(session, actor="user:bea", model=model, sign_off_id=signed.id, rationale="missed it")
    return model


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def sign_offs(session) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return [(s.approver, s.tier) for s in session.execute(select(SignOff).order_by(SignOff.id)).scalars()]


def test_the_preview_names_each_tier_opened_and_what_the_policy_grants_it(session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    # The default policy on `standard`: verified generate; trusted adds tools and fine_tune.
    assert sign_off_preview(session, model, "free").tiers == (
        TierPreview("free", True, (), ()),
        TierPreview("verified", True, ("generate",), ("generate",)),
        TierPreview("trusted", True, ("generate", "fine_tune", "tools"), ("generate", "fine_tune", "tools")),
        TierPreview("internal", True, ("generate", "fine_tune", "tools"), ("generate", "fine_tune", "tools")),
    )
    trusted = sign_off_preview(session, model, "trusted").tiers
    assert [(t.tier, t.opened, t.usable) for t in trusted[:2]] == [("free", False, ()),
                                                                    ("verified", False, ())]
    assert trusted[1].granted == ("generate",)  # granted by the policy, kept closed by the sign-off


def test_signing_off_asks_for_confirmation_with_the_preview_then_says_it(app, signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2", tier="free")
    make_launch_ready(session, model)
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    first = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "free",
                                               "conditions": "weekly misuse report"})
    assert first.status_code == 200
    page = text(first)
    assert "Sign off gpt-x for free and every tier above?" in page
    assert ('<tr class="opened" data-tier="free"> <td>free</td> <td>opened</td> <td>nothing</td> '
            '<td>nothing: opened, but the policy grants free nothing on standard</td> </tr>') in page
    assert ('<tr class="opened" data-tier="verified"> <td>verified</td> <td>opened</td> <td>generate</td> '
            '<td>generate</td> </tr>') in page
    assert "Conditions: weekly misuse report." in page
    assert sign_offs(session) == []  # nothing is signed off before the confirmation

    confirm = re.search(r'name="confirmed" type="hidden" value="(\w+)"', first.get_data(as_text=True))
    assert confirm is not None and confirm.group(1) == "yes"
    done = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "free",
                                              "conditions": "weekly misuse report", "confirmed": "yes"},
                     follow_redirects=True)
    assert sign_offs(session) == [("user:boss", "free")]
    assert '<p class="notice done" role="status">Signed off gpt-x: open to free and above.</p>' in text(done)


def test_the_tier_has_no_default(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    page = boss.get(url).get_data(as_text=True)
    select_tag = re.search(r'<select id="tier" name="tier"[^>]*>(.*?)</select>',
                           page.split("Sign off</h3>")[1], re.S)
    assert select_tag is not None
    # An empty choice first and none selected: the browser shows "choose a tier", not a tier.
    assert re.findall(r"<option ([^>]*)>", select_tag.group(1)) == [
        'value=""', 'value="free"', 'value="verified"', 'value="trusted"', 'value="internal"']
    response = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "confirmed": "yes"})
    assert response.status_code == 400
    assert "This field is required." in text(response)
    assert sign_offs(session) == []


def test_re_signing_after_a_reversal_is_refused_on_the_page_and_the_hold_explained(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    review(session, model, "user:rev3")
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    page = text(boss.get(url))
    assert re.search(HELD.pattern + r"needs 2 reviews recommending to open recorded after it \(1 so far\) "
                     r"and a board member's release\.", page), page
    for confirmed in ("", "yes"):
        response = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "verified",
                                                       "confirmed": confirmed})
        assert response.status_code == 400
        assert re.search(HELD.pattern + r"needs 2 reviews recommending verified or a lower tier recorded "
                         r"after it \(1 so far\) and a board member's release</p>", text(response))
    assert sign_offs(session) == [("user:boss", "verified")]  # the reversed one only


def test_the_board_releases_the_hold_on_the_page_and_the_page_says_what_remains(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    url = f"/models/{model.id}"
    boss = signed_in("boss", "approver")
    assert boss.post(f"{url}/hold/release", data={"csrf_token": token(boss, url),
                                                  "release-rationale": "ok"}).status_code == 403
    bea = signed_in("bea", "board")
    empty = bea.post(f"{url}/hold/release", data={"csrf_token": token(bea, url), "release-rationale": ""})
    assert empty.status_code == 400
    done = bea.post(f"{url}/hold/release", follow_redirects=True,
                    data={"csrf_token": token(bea, url), "release-rationale": "the study is in"})
    page = text(done)
    assert re.search(r'<p class="notice done" role="status">Released the hold on gpt-x\. ' + HELD.pattern
                     + r"needs 2 reviews recommending to open recorded after it \(0 so far\)\.</p>",
                     page), page
    assert "Released by user:bea on " in page and "UTC: the study is in" in page
    assert "Release the hold</button>" not in page
    actors = session.execute(select(AuditEvent.actor).where(AuditEvent.action == "model.release_hold")).all()
    assert actors == [("user:bea",)]


def test_reversing_asks_for_confirmation_then_says_what_it_did(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    review(session, model, "user:rev1", "user:rev2")
    signed = ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    bea = signed_in("bea", "board")
    url = f"/models/{model.id}"
    action = f"{url}/sign-offs/{signed.id}/reverse"
    data = {"csrf_token": token(bea, url), "reverse-rationale": "missed a study"}
    page = text(bea.post(action, data=data))
    assert f"Reverse sign-off #{signed.id} of gpt-x?" in page
    assert "Only internal will reach gpt-x, at once." in page
    assert ("Signing it off again will need 2 reviews recorded after the reversal and a board member's "
            "release.") in page
    session.expire_all()
    assert session.get(SignOff, signed.id).reversed_at is None
    done = text(bea.post(action, data={**data, "reverse-confirmed": "yes"}, follow_redirects=True))
    session.expire_all()
    assert session.get(SignOff, signed.id).reversed_by == "user:bea"
    assert (f'<p class="notice done" role="status">Reversed sign-off #{signed.id} of gpt-x (it opened '
            f"verified and above): only internal reaches it.") in done


def test_suspending_asks_for_confirmation_then_says_what_it_did(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    ops = signed_in("ops", "admin")
    url = f"/models/{model.id}"
    data = {"csrf_token": token(ops, url), "suspend-rationale": "incident 42"}
    page = text(ops.post(f"{url}/suspension", data=data))
    assert "Suspend gpt-x?" in page and "Every caller, at every tier, will be denied gpt-x at once" in page
    session.expire_all()
    assert session.get(GovernedModel, model.id).suspended is False
    done = text(ops.post(f"{url}/suspension", data={**data, "suspend-confirmed": "yes"},
                         follow_redirects=True))
    session.expire_all()
    assert session.get(GovernedModel, model.id).suspended is True
    assert '<p class="notice done" role="status">Suspended gpt-x. Every caller' in done


def test_a_failed_confirmation_asks_again_rather_than_acting_on_the_next_post(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    page = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "verified",
                                               "confirmed": "yes"}).get_data(as_text=True)
    assert 'name="confirmed" type="hidden" value=""' in page


def test_after_fresh_reviews_and_release_the_page_allows_signing_again(app, signed_in, session, token):  # type: ignore[no-untyped-def]
    model = reversed_model(session)
    review(session, model, "user:rev3", "user:rev4")
    release_hold(session, actor="user:bea", model=model, rationale="ok")
    make_escalation_path(session, app.extensions["govern.settings"].secret_key)
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    assert re.search(HELD.pattern + r"the fresh reviews are in and user:bea released it; an approver may "
                     r"sign off again\.", text(boss.get(url)))
    done = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "verified",
                                              "confirmed": "yes"}, follow_redirects=True)
    assert "Signed off gpt-x: open to verified and above, and the hold is ended." in text(done)
    assert "Held since" not in text(done)
    assert sign_offs(session)[-1] == ("user:boss", "verified")


def test_lifting_a_suspension_says_it_will_hold_when_the_preset_asks(signed_in, session, token, monkeypatch):  # type: ignore[no-untyped-def]
    strict = dataclasses.replace(get_preset("preparedness-2023"), name="strict", hold_after_suspension=True)
    monkeypatch.setitem(presets(), "strict", strict)
    model = make_governed_model(session, name="gpt-x", group="standard", post="medium")
    model.preset = "strict"
    session.commit()
    review(session, model, "user:rev1", "user:rev2")
    ready_sign_off(session, actor="user:boss", model=model, tier="verified")
    suspend_model(session, actor="user:ops", model=model, reason="incident")
    ops = signed_in("ops", "admin")
    url = f"/models/{model.id}"
    data = {"csrf_token": token(ops, url), "suspend-rationale": "incident closed"}
    page = text(ops.post(f"{url}/suspension", data=data))
    expected = ("The earlier sign-off no longer counts. Signing it off again will need 2 reviews recorded "
                "after the lifting and a board member's release.")
    assert "Lift the suspension of gpt-x?" in page and expected in page
    done = text(ops.post(f"{url}/suspension", data={**data, "suspend-confirmed": "yes"},
                         follow_redirects=True))
    assert f'<p class="notice done" role="status">Lifted the suspension of gpt-x. {expected}</p>' in done
    assert re.search(r"Held since the lifting of the suspension on \d{4}-\d\d-\d\d \d\d:\d\d UTC: needs 2 "
                     r"reviews recommending to open recorded after it \(0 so far\) and a board member's "
                     r"release\.", done)
    assert "held: not in force" in done
