"""Sign-in throttling: parallel guesses at one username get at most five password checks, each
further failure doubles the lock, failures with made-up usernames from one address never lock out
a person who knows their password, and an admin lifts a lock (audited) in the UI, API and CLI."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from factories import make_user_key
from sqlalchemy import func, select
from ui import PASSWORD, sign_in

from govern.identity.throttle import (
    MAX_ADDRESS_FAILURES,
    MAX_FAILURES,
    Throttled,
    begin_attempt,
    source_delay,
)
from govern.identity.users import create_user
from govern.models import AuditEvent, LoginFailure
from govern.models.base import utcnow

GUESSES = 30
TIMEOUT = 30
TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def guess(base_url: str, username: str) -> int:
    """One browser's sign-in with a wrong password, over real HTTP; the answer's status."""
    browser = requests.Session()
    form = TOKEN.search(browser.get(f"{base_url}/login", timeout=TIMEOUT).text)
    assert form is not None
    answer = browser.post(f"{base_url}/login", timeout=TIMEOUT, allow_redirects=False,
                          data={"username": username, "password": "wrong-guess-123",
                                "csrf_token": form.group(1)})
    return answer.status_code


# The guesses race while each password check takes as long as in production.
@pytest.mark.production_password_hash
def test_parallel_guesses_get_at_most_the_allowed_password_checks(session, live_server):  # type: ignore[no-untyped-def]
    create_user(session, actor="test:ui", username="ada", password=PASSWORD, roles=frozenset({"admin"}))
    with ThreadPoolExecutor(max_workers=GUESSES) as pool:
        statuses = list(pool.map(lambda _: guess(live_server.url, "ada"), range(GUESSES)))
    # Every answer but a 429 checked the password (SQLite may refuse a parallel audit write: 503).
    checked = [status for status in statuses if status != 429]
    assert 1 <= len(checked) <= MAX_FAILURES, statuses
    session.expire_all()
    recorded = session.execute(select(func.count()).select_from(AuditEvent)
                               .where(AuditEvent.action == "user.sign_in_failed")).scalar_one()
    assert recorded <= MAX_FAILURES
    # Refused attempts racing one another may leave checks unused; never more than the allowed.
    later = [guess(live_server.url, "ada") for _ in range(MAX_FAILURES - len(checked) + 1)]
    assert later[-1] == 429 and len(checked) + later.count(200) <= MAX_FAILURES, (statuses, later)


def test_made_up_usernames_from_one_address_do_not_lock_out_a_valid_user(app, session):  # type: ignore[no-untyped-def]
    create_user(session, actor="test:ui", username="breakglass", password=PASSWORD,
                roles=frozenset({"admin"}))
    earlier = utcnow() - timedelta(minutes=1)
    for n in range(MAX_ADDRESS_FAILURES):  # past the threshold: its attempts are slowed
        begin_attempt(session, f"made-up-{n}", "127.0.0.1", earlier)
    client = app.test_client()
    response = sign_in(client, "breakglass")
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200


def test_each_failure_past_the_lock_doubles_it_and_refusals_do_not_lengthen_it(session):  # type: ignore[no-untyped-def]
    start = utcnow()

    def attempt(after: float) -> int | None:
        """An attempt `after` seconds from the start: None if it reached the password check (and,
        here, failed), or the seconds it was told to wait."""
        try:
            begin_attempt(session, "ada", "10.0.0.1", start + timedelta(seconds=after))
        except Throttled as throttled:
            return throttled.wait
        return None

    assert [attempt(0) for _ in range(MAX_FAILURES)] == [None] * MAX_FAILURES
    assert attempt(10) == 21          # 30 s after the fifth failure
    assert attempt(29) == 2           # refused attempts did not lengthen it
    assert attempt(31) is None        # the lock is over: one more guess, which fails...
    assert attempt(32) == 60          # ...and doubles the lock to 60 s after it
    assert attempt(92) is None
    assert attempt(93) == 120         # then 120 s
    assert attempt(24 * 3600 + 100) is None  # failures older than a day are forgotten


@pytest.mark.parametrize(("failures", "delay"), [
    (MAX_ADDRESS_FAILURES - 1, 0.0), (MAX_ADDRESS_FAILURES, 1.0), (MAX_ADDRESS_FAILURES * 3, 3.0),
    (MAX_ADDRESS_FAILURES * 20, 5.0)])
def test_a_busy_address_is_slowed_more_the_more_it_fails_up_to_five_seconds(session, failures, delay):  # type: ignore[no-untyped-def]
    now = utcnow()
    # As begin_attempt leaves failed attempts (one insert for all: the count is what matters here).
    session.add_all([LoginFailure(username=f"made-up-{n}", address="10.0.0.9",
                                  created_at=now - timedelta(minutes=1)) for n in range(failures)])
    session.commit()
    assert source_delay(session, "10.0.0.9", now) == delay
    assert source_delay(session, "10.0.0.10", now) == 0.0  # another address is not slowed


def lock_out(app, username: str) -> None:  # type: ignore[no-untyped-def]
    client = app.test_client()
    for _ in range(MAX_FAILURES):
        assert sign_in(client, username, "wrong-guess-123").status_code == 200
    assert sign_in(client, username).status_code == 429


def test_an_admin_lifts_a_lock_through_the_api_audited_and_not_as_an_auditor(app, session, client):  # type: ignore[no-untyped-def]
    ada = create_user(session, actor="test:ui", username="ada", password=PASSWORD,
                      roles=frozenset({"reviewer"}))
    lock_out(app, "ada")
    auditor = {"Authorization": f"Bearer {make_user_key(session, 'audrey', frozenset({'auditor'}))}"}
    assert client.post(f"/v1/admin/users/{ada.id}/unlock", headers=auditor).status_code == 403
    assert sign_in(app.test_client(), "ada").status_code == 429
    admin = {"Authorization": f"Bearer {make_user_key(session, 'bob', frozenset({'admin'}))}"}
    assert client.post("/v1/admin/users/999999/unlock", headers=admin).status_code == 404

    answer = client.post(f"/v1/admin/users/{ada.id}/unlock", headers=admin)
    assert (answer.status_code, answer.json["failures_cleared"]) == (200, MAX_FAILURES)
    assert sign_in(app.test_client(), "ada").status_code == 302
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "user.unlock")).scalar_one()
    assert (event.actor, event.target, event.after) == (
        "user:bob", f"user:{ada.id}", {"username": "ada", "failures_cleared": MAX_FAILURES})


def test_govern_users_unlock_lifts_a_lock_audited(app, session, govern):  # type: ignore[no-untyped-def]
    ada = create_user(session, actor="test:ui", username="ada", password=PASSWORD,
                      roles=frozenset({"reviewer"}))
    lock_out(app, "ada")
    result = govern("users", "unlock", "ada")
    assert result.exit_code == 0, result.output
    assert result.output == f"user ada: sign-in unlocked ({MAX_FAILURES} failed attempts forgotten)\n"
    assert sign_in(app.test_client(), "ada").status_code == 302
    session.expire_all()
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "user.unlock")).scalar_one()
    assert event.target == f"user:{ada.id}"
    unknown = govern("users", "unlock", "nobody")
    assert unknown.exit_code != 0 and "no account named 'nobody'" in unknown.output


def test_an_admin_sees_a_lock_and_lifts_it_in_the_ui_audited(app, session, signed_in, token):  # type: ignore[no-untyped-def]
    ann = signed_in("ann", "admin")
    ada = create_user(session, actor="test:ui", username="ada", password=PASSWORD,
                      roles=frozenset({"reviewer"}))
    lock_out(app, "ada")
    page = ann.get(f"/people/{ada.person_id}").get_data(as_text=True)
    assert "sign-in locked until" in page and f"{MAX_FAILURES} failed attempts" in page

    lifted = ann.post(f"/people/accounts/{ada.id}/unlock", follow_redirects=True,
                      data={"csrf_token": token(ann, f"/people/{ada.person_id}")})
    assert lifted.status_code == 200
    text = lifted.get_data(as_text=True)
    assert f"ada can sign in again ({MAX_FAILURES} failed attempts forgotten)" in text
    assert "sign-in locked until" not in text
    assert sign_in(app.test_client(), "ada").status_code == 302
    session.expire_all()
    event = session.execute(select(AuditEvent).where(AuditEvent.action == "user.unlock")).scalar_one()
    assert (event.actor, event.target) == ("user:ann", f"user:{ada.id}")


def test_an_auditor_cannot_lift_a_lock_in_the_ui(app, session, signed_in, token):  # type: ignore[no-untyped-def]
    ada = create_user(session, actor="test:ui", username="ada", password=PASSWORD,
                      roles=frozenset({"reviewer"}))
    lock_out(app, "ada")
    auditor = signed_in("aud", "auditor")
    page = auditor.get(f"/people/{ada.person_id}").get_data(as_text=True)
    assert "sign-in locked until" in page and "Lift sign-in lock" not in page
    refused = auditor.post(f"/people/accounts/{ada.id}/unlock",
                           data={"csrf_token": token(auditor, f"/people/{ada.person_id}")})
    assert refused.status_code == 403
    assert sign_in(app.test_client(), "ada").status_code == 429
