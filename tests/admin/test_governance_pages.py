"""The governance pages over HTTP: role checks on the server, field errors next to their fields,
separation of duties in words, badges in the model list, the dashboard chart."""

from __future__ import annotations

import re

from factories import make_governed_model
from sqlalchemy import select

from govern.governance.reviews import record_review
from govern.governance.scorecards import rate_category
from govern.models import Decision


def test_signed_out_visitors_are_sent_to_sign_in(client):  # type: ignore[no-untyped-def]
    for url in ("/dashboard", "/models", "/models/new", "/audit"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")


def test_only_admins_see_the_registration_page(signed_in):  # type: ignore[no-untyped-def]
    reviewer = signed_in("rita", "reviewer")
    response = reviewer.get("/models/new")
    assert response.status_code == 403
    assert "this page needs the role admin" in response.get_data(as_text=True)


def test_registering_a_model_shows_errors_next_to_fields_then_lists_it(signed_in, token):  # type: ignore[no-untyped-def]
    admin = signed_in("ann", "admin")
    data = {"csrf_token": token(admin, "/models/new"), "name": "", "version": "2.0", "owner": "team",
            "model_group": "frontier", "preset": "preparedness-2025"}
    page = admin.post("/models/new", data=data)
    assert page.status_code == 400
    assert re.search(r'<label for="name">.*?</label>\s*<input[^>]*aria-invalid="true"[^>]*>\s*'
                     r'<p class="error">This field is required.</p>', page.get_data(as_text=True), re.S)

    created = admin.post("/models/new", data={**data, "name": "frontier-9"})
    assert created.status_code == 302
    listing = admin.get("/models").get_data(as_text=True)
    assert "frontier-9" in listing
    assert '<span class="badge gate-unrated">not fully rated</span>' in listing
    assert '<span class="badge closed">internal only</span>' in listing


def test_a_rating_needs_evidence_and_a_sensible_level(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x")
    rita = signed_in("rita", "reviewer")
    url = f"/models/{model.id}/scorecard"
    base = {"csrf_token": token(rita, url), "category": "cbrn", "pre_level": "low", "post_level": "high"}
    page = rita.post(url, data={**base, "evidence": "", "links": "not a link"}).get_data(as_text=True)
    assert '<p class="error">This field is required.</p>' in page
    assert '<p class="error">not an http(s) link: not a link</p>' in page
    page = rita.post(url, data={**base, "evidence": "eval"}).get_data(as_text=True)
    assert "the post-mitigation level cannot be above the pre-mitigation level" in page


def test_the_scorecard_grid_is_coloured_by_level_and_says_why_not_deployable(signed_in, session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", post="high")
    page = signed_in("aud", "auditor").get(f"/models/{model.id}/scorecard").get_data(as_text=True)
    assert page.count('<td class="cell level-2-of-4">High</td>') == 8  # pre and post, 4 categories
    assert ("CBRN (chemical, biological, radiological, nuclear), Cybersecurity, Persuasion, Model autonomy "
            "above medium after mitigation: deployment needs medium or below") in page
    assert page.count("user:rita") >= 8  # grid and history both name the rater


def test_the_scorecard_names_categories_and_levels_for_people_and_keeps_evidence_lines(signed_in, session):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x")
    rate_category(session, actor="user:rita", model=model, category="model_autonomy", pre_level="high",
                  post_level="medium", evidence="eval suite v2\nred team: 3 findings, all fixed")
    page = signed_in("aud", "auditor").get(f"/models/{model.id}/scorecard").get_data(as_text=True)

    history = page.split("<h2>History</h2>")[-1] if "<h2>History</h2>" in page else page
    assert "<td>Model autonomy</td>" in history and "<td>model_autonomy</td>" not in page
    assert '<td class="evidence">eval suite v2\nred team: 3 findings, all fixed</td>' in page
    assert ">Medium</span>" in page and ">medium</span>" not in page


def test_separation_of_duties_is_explained_on_the_page(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", post="medium", rater="user:rita")
    rita = signed_in("rita", "reviewer")
    url = f"/models/{model.id}"
    response = rita.post(f"{url}/reviews", data={"csrf_token": token(rita, url), "recommendation": "open",
                                                 "tier": "verified", "rationale": "fine"})
    assert response.status_code == 400
    assert ("separation of duties: you rated this model&#39;s scorecard, so you cannot review it"
            in response.get_data(as_text=True))


def test_an_approver_cannot_sign_off_without_the_quorum(signed_in, session, token):  # type: ignore[no-untyped-def]
    model = make_governed_model(session, name="gpt-x", post="medium")
    record_review(session, actor="user:rev1", model=model, recommendation="open", tier="verified",
                  rationale="ok")
    boss = signed_in("boss", "approver")
    url = f"/models/{model.id}"
    page = boss.post(f"{url}/sign-offs", data={"csrf_token": token(boss, url), "tier": "verified"})
    assert page.status_code == 400
    assert "2 distinct reviewers must recommend verified or a lower tier" in page.get_data(as_text=True)


def test_the_dashboard_draws_decisions_per_tier_and_lists_denials(signed_in, session, app):  # type: ignore[no-untyped-def]
    from factories import demo_keys

    keys = demo_keys(session)
    client = app.test_client()
    for tier in ("free", "verified"):
        client.post("/v1/check", json={"model": "frontier-1", "capability": "generate"},
                    headers={"Authorization": f"Bearer {keys[tier]}"})
    page = signed_in("aud", "auditor").get("/dashboard").get_data(as_text=True)
    assert '<svg class="chart"' in page
    # Every tier keeps its line and its legend entry, quiet ones too.
    assert page.count('<polyline class="line series-') == 4
    assert "free: 1" in page and "verified: 1" in page and "trusted: 0" in page and "internal: 0" in page
    assert page.count("<code>tier_too_low</code>") == 2
    ids = [row.decision_id for row in session.execute(select(Decision)).scalars()]
    assert all(f'href="/decisions/{decision_id}"' in page for decision_id in ids) and len(ids) == 2


def test_denials_on_the_dashboard_link_only_for_who_may_read_the_log(signed_in, session, app):  # type: ignore[no-untyped-def]
    from factories import demo_keys

    app.test_client().post("/v1/check", json={"model": "frontier-1", "capability": "generate"},
                           headers={"Authorization": f"Bearer {demo_keys(session)['free']}"})
    page = signed_in("rita", "reviewer").get("/dashboard").get_data(as_text=True)

    assert page.count("<code>tier_too_low</code>") == 1
    assert 'href="/decisions/' not in page


def test_the_dashboard_lists_models_waiting_to_be_rated(signed_in, session):  # type: ignore[no-untyped-def]
    unrated = make_governed_model(session, name="fresh-model")
    make_governed_model(session, name="rated-model", post="medium")
    page = signed_in("rita", "reviewer").get("/dashboard").get_data(as_text=True)

    waiting = page.split("<h2>Awaiting rating</h2>")[1].split("</ul>")[0]
    assert f'href="/models/{unrated.id}/scorecard">fresh-model</a>' in waiting
    assert "4 of 4 categories not rated yet" in waiting
    assert "rated-model" not in waiting


def test_the_models_list_pages_fifty_at_a_time_by_name_either_way(signed_in, session):  # type: ignore[no-untyped-def]
    names = [f"model-{number:02d}" for number in range(52)]
    for name in names:
        make_governed_model(session, name=name)
    aud = signed_in("aud", "auditor")

    first = aud.get("/models").get_data(as_text=True)
    second = aud.get("/models?page=2").get_data(as_text=True)
    reversed_first = aud.get("/models?sort=-name").get_data(as_text=True)

    assert [name for name in names if f">{name}</a>" in first] == names[:50]
    assert [name for name in names if f">{name}</a>" in second] == names[50:]
    assert [name for name in names if f">{name}</a>" in reversed_first] == names[2:]
    assert 'href="/models?page=2&amp;sort=name">Next page' in first and "Next page" not in second
