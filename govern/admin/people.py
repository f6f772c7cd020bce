"""People: every person with their accounts; admins link accounts, grant and remove roles, disable
and re-enable people and reset local passwords, through the same services as the CLI and the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.people_forms import AccountForm, ConfirmForm, LinkForm, PersonForm, RoleForm
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import single_admin, submit
from govern.identity import people, throttle, users
from govern.models.base import utcnow

bp = Blueprint("people", __name__, url_prefix="/people")
html_errors(bp)
INVALID = 400
PAGE = 50


def _checked(form: ConfirmForm | RoleForm | LinkForm | PersonForm) -> None:
    if not form.validate_on_submit():
        problems = [error for errors in form.errors.values() for error in errors]
        raise InvalidInput("; ".join(str(p) for p in problems) or "the form was not complete")


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    return _list_page(AccountForm(formdata=None))[0]


def _list_page(form: AccountForm, status: int = 200) -> tuple[str, int]:
    session = current_session()
    page = max(request.args.get("page", 1, type=int), 1)
    sort = request.args.get("sort", "made")
    sort = sort if sort.removeprefix("-") in people.PEOPLE_SORTS else "made"
    # One more than a page: whether there is a next page, without counting everyone.
    listed = people.list_people(session, sort=sort, offset=(page - 1) * PAGE, limit=PAGE + 1)
    return render_template("people/list.html", people=listed[:PAGE], page=page, sort=sort,
                           more=len(listed) > PAGE, form=form, holds=holds,
                           single_admin=single_admin(session)), status


@bp.post("/accounts")
@roles_required("admin")
def create_account() -> Response | tuple[str, int]:
    """A new local account: a guarded change (it grants roles), so a proposal whenever it gives a
    governance role or a second admin exists; its password is shown once to whoever applies it."""
    form = AccountForm()
    if not form.validate_on_submit():
        return _list_page(form, INVALID)
    change = Change("user.create", {"username": form.username.data.strip(), "roles": sorted(form.roles.data)})
    try:
        outcome = submit(current_session(), change, actor=actor())
    except GovernError as error:
        form.username.errors.append(error.message)
        return _list_page(form, INVALID)
    if outcome.applied:
        assert outcome.result is not None
        return password_page(outcome.result)
    assert outcome.proposal is not None
    flash(f"Proposed as change {outcome.proposal.id}: it waits for a second admin to approve it.")
    return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))


def password_page(result: dict[str, Any]) -> Response:
    """The one page that shows a new account's password; kept out of every cache."""
    user = people.find_account(current_session(), int(result["user_id"]))
    page = make_response(render_template("people/password.html", user=user, password=result["password"],
                                         new=True))
    page.headers["Cache-Control"] = "no-store"
    return page


@bp.get("/<int(max=2147483647):person_id>")
@roles_required(*READERS)
def detail(person_id: int) -> str:
    session = current_session()
    person = people.get_person(session, person_id)
    form = PersonForm(display_name=person.display_name, email=person.email or "")
    link = LinkForm()
    link.person_id.choices = [SelectChoice(p.id, f"{p.display_name} (person {p.id})")
                              for p in people.list_people(session) if p.id != person.id]
    now = utcnow()
    locks = {account.id: throttle.lock_state(session, account.username, now)
             for account in person.accounts if not account.issuer}
    return render_template("people/detail.html", person=person, form=form, link=link, locks=locks,
                           role_form=RoleForm(), confirm=ConfirmForm(), holds=holds)


@bp.post("/<int(max=2147483647):person_id>/edit")
@roles_required("admin")
def edit(person_id: int) -> Response:
    form = PersonForm()
    _checked(form)
    email = form.email.data.strip()
    people.update_person(current_session(), actor=actor(), person_id=person_id,
                         display_name=form.display_name.data, email=email or None, clear_email=not email)
    flash("Saved the person's name and e-mail.")
    return redirect(url_for(".detail", person_id=person_id))


def _set_active(person_id: int, active: bool) -> Response:
    _checked(ConfirmForm())
    person = people.set_person_active(current_session(), actor=actor(), person_id=person_id, active=active)
    flash(f"{person.display_name} is enabled again." if person.active else
          f"{person.display_name} is disabled: every account, session and admin key of theirs stopped.")
    return redirect(url_for(".detail", person_id=person_id))


@bp.post("/<int(max=2147483647):person_id>/disable")
@roles_required("admin")
def disable(person_id: int) -> Response:
    return _set_active(person_id, False)


@bp.post("/<int(max=2147483647):person_id>/enable")
@roles_required("admin")
def enable(person_id: int) -> Response:
    return _set_active(person_id, True)


def _guarded(change: Change, person_id: int, done: str) -> Response:
    """Submit a guarded change: applied at once (alone, flagged) or a proposal for a second admin."""
    outcome = submit(current_session(), change, actor=actor())
    if outcome.applied:
        flash(done)
        return redirect(url_for(".detail", person_id=person_id))
    assert outcome.proposal is not None
    flash(f"Proposed as change {outcome.proposal.id}: it waits for a second admin to approve it.")
    return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))


@bp.post("/accounts/<int(max=2147483647):user_id>/roles")
@roles_required("admin")
def grant(user_id: int) -> Response:
    form = RoleForm()
    _checked(form)
    user = people.find_account(current_session(), user_id)
    return _guarded(Change("role.grant", {"user_id": user_id, "role": form.role.data}), user.person_id,
                    f"{user.username} now holds {form.role.data}.")


@bp.post("/accounts/<int(max=2147483647):user_id>/roles/<role>/remove")
@roles_required("admin")
def remove(user_id: int, role: str) -> Response:
    _checked(ConfirmForm())
    user = people.find_account(current_session(), user_id)
    return _guarded(Change("role.remove", {"user_id": user_id, "role": role}), user.person_id,
                    f"{user.username} no longer holds {role}.")


@bp.post("/accounts/<int(max=2147483647):user_id>/person")
@roles_required("admin")
def link(user_id: int) -> Response:
    form = LinkForm()
    form.person_id.choices = [SelectChoice(p.id, str(p.id)) for p in people.list_people(current_session())]
    _checked(form)
    user = people.find_account(current_session(), user_id)
    return _guarded(Change("account.link", {"user_id": user_id, "person_id": form.person_id.data}),
                    form.person_id.data,
                    f"{user.username} now belongs to this person; its roles are unchanged.")


@bp.post("/accounts/<int(max=2147483647):user_id>/password")
@roles_required("admin")
def reset_password(user_id: int) -> str:
    _checked(ConfirmForm())
    session = current_session()
    password = users.reset_password(session, actor=actor(), user_id=user_id)
    user = people.find_account(session, user_id)
    return render_template("people/password.html", user=user, password=password)


@bp.post("/accounts/<int(max=2147483647):user_id>/unlock")
@roles_required("admin")
def unlock(user_id: int) -> Response:
    _checked(ConfirmForm())
    session = current_session()
    user = people.find_account(session, user_id)
    cleared = throttle.unlock(session, actor=actor(), user=user)
    flash(f"{user.username} can sign in again ({cleared} failed attempts forgotten).")
    return redirect(url_for(".detail", person_id=user.person_id))
