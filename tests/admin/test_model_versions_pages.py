"""The model page's versions: an admin registers a new version (it opens on the new version's
page, unrated and closed) and retires a model after a confirmation step; other roles are refused,
a form without its CSRF token is refused, and the older version's page keeps its records."""

from __future__ import annotations

from factories import make_signed_model
from sqlalchemy import select

from govern.governance.registry import find_model
from govern.models import GovernedModel


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


def test_admin_registers_a_new_version(signed_in, session, token) -> None:  # type: ignore[no-untyped-def]
    old, signed = make_signed_model(session, "gpt-x")
    ada = signed_in("ada", "admin")
    url = f"/models/{old.id}"
    response = ada.post(f"{url}/versions", data={"csrf_token": token(ada, url), "version-version": "2.0",
                                                  "version-description": "longer context"})
    session.expire_all()
    new = find_model(session, "gpt-x")
    assert (new.version, new.description) == ("2.0", "longer context")
    assert response.status_code == 302 and response.headers["Location"] == f"/models/{new.id}"
    page = text(ada.get(f"/models/{new.id}"))
    assert ("Registered gpt-x 2.0: unrated and closed to all but internal until it is signed off. "
            "The records of 1.0 are kept on its page.") in page
    assert "Not signed off: only internal reaches this model." in page
    old_page = text(ada.get(url))
    assert ("This is an older version: callers of gpt-x are answered under\n"
            f'    <a href="/models/{new.id}">2.0</a>') in old_page
    assert f'<tr id="sign-off-{signed.id}">' in old_page
    assert "Register the new version" not in old_page
    assert "open to verified and above" not in old_page  # its sign-off no longer opens anything


def test_an_empty_or_repeated_version_is_a_message_on_the_form(signed_in, session, token) -> None:  # type: ignore[no-untyped-def]
    old, _ = make_signed_model(session, "gpt-x")
    ada = signed_in("ada", "admin")
    url = f"/models/{old.id}"
    empty = ada.post(f"{url}/versions", data={"csrf_token": token(ada, url), "version-version": ""})
    assert empty.status_code == 400 and "This field is required." in text(empty)
    same = ada.post(f"{url}/versions", data={"csrf_token": token(ada, url), "version-version": "1.0"})
    assert same.status_code == 400 and "gpt-x already has a version &#39;1.0&#39;" in text(same)
    session.expire_all()
    assert len(session.execute(select(GovernedModel)).scalars().all()) == 1


def test_retiring_asks_for_confirmation_then_closes_the_model(signed_in, session, token) -> None:  # type: ignore[no-untyped-def]
    model, _ = make_signed_model(session, "gpt-x")
    ada = signed_in("ada", "admin")
    url = f"/models/{model.id}"
    data = {"csrf_token": token(ada, url), "retire-rationale": "replaced by gpt-y"}
    page = text(ada.post(f"{url}/retirement", data=data))
    assert "Retire gpt-x 1.0?" in page and "will be denied gpt-x for good; its records stay." in page
    session.expire_all()
    assert session.get(GovernedModel, model.id).retired_at is None
    done = text(ada.post(f"{url}/retirement", data={**data, "retire-confirmed": "yes"},
                         follow_redirects=True))
    session.expire_all()
    assert session.get(GovernedModel, model.id).retired_by == "user:ada"
    assert '<p class="notice done" role="status">Retired gpt-x 1.0. Every caller' in done
    assert "by user:ada: replaced by gpt-y. Every caller, at every tier, is denied" in done
    assert "Retire 1.0</button>" not in done
    assert '<span class="badge suspended">retired: closed to all</span>' in text(ada.get("/models"))


def test_other_roles_and_forms_without_csrf_are_refused(signed_in, session, token) -> None:  # type: ignore[no-untyped-def]
    model, _ = make_signed_model(session, "gpt-x")
    url = f"/models/{model.id}"
    for role in ("auditor", "reviewer", "approver", "board"):
        client = signed_in(f"someone-{role}", role)
        csrf = token(client, url)
        versions = client.post(f"{url}/versions", data={"csrf_token": csrf, "version-version": "2"})
        assert versions.status_code == 403
        assert client.post(f"{url}/retirement", data={"csrf_token": csrf, "retire-rationale": "x",
                                                       "retire-confirmed": "yes"}).status_code == 403
    ada = signed_in("ada", "admin")
    assert ada.post(f"{url}/versions", data={"version-version": "2"}).status_code == 400
    retire = ada.post(f"{url}/retirement", data={"retire-rationale": "x", "retire-confirmed": "yes"})
    assert retire.status_code == 400
    session.expire_all()
    assert [m.version for m in session.execute(select(GovernedModel)).scalars()] == ["1.0"]
    assert session.get(GovernedModel, model.id).retired_at is None
