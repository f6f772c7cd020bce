"""API keys: every key, one key's page (cap, expiry, rotation, suspension, revocation, last use),
issuing a key for an organisation, and the admin and enforcement-point keys on their own page.

A new secret is rendered once, in the answer to the POST that made it, with `Cache-Control:
no-store`; it is never put in a session, a redirect or a log. Raising or lifting a cap and making an
enforcement-point key are guarded changes through the proposals service, as in the admin API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response
from wtforms.fields import SelectChoice

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.people_forms import ConfirmForm
from govern.admin.principal_forms import (
    NO_CAP,
    AdminKeyForm,
    CapForm,
    ExpiryForm,
    NewKeyForm,
    PepKeyForm,
    RotateForm,
    utc,
)
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import Outcome, single_admin, submit
from govern.identity import keys, organisations, people
from govern.models.api_key import ADMIN, CLIENT, PEP
from govern.models.base import utcnow
from govern.policy.store import current_document

bp = Blueprint("keys", __name__, url_prefix="/keys")
html_errors(bp)
INVALID = 400
PAGE = 100
PREFIX = "<string(maxlength=64):prefix>"


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    page = max(request.args.get("page", 1, type=int), 1)
    sort = request.args.get("sort", "created")
    sort = sort if sort.removeprefix("-") in keys.KEY_SORTS else "created"
    # One more than a page: whether there is a next page, without counting every key.
    listed = keys.list_keys(current_session(), kinds=(CLIENT,), sort=sort, offset=(page - 1) * PAGE,
                            limit=PAGE + 1)
    return render_template("keys/list.html", keys=listed[:PAGE], page=page, more=len(listed) > PAGE,
                           sort=sort)


@bp.get("/service")
@roles_required(*READERS)
def service() -> str:
    return _service_page(PepKeyForm(formdata=None), _admin_key_form(formdata=None))[0]


def _admin_key_form(**options: Any) -> AdminKeyForm:
    """The admin-key form (its own prefix: two forms share the page), offering every account that
    may use the admin API (admin or auditor)."""
    form = AdminKeyForm(prefix="admin-key", **options)
    form.user_id.choices = [SelectChoice(account.id, f"{account.username} ({', '.join(account.roles)})")
                            for person in people.list_people(current_session()) for account in person.accounts
                            if {"admin", "auditor"} & set(account.roles)]
    return form


def _service_page(pep: PepKeyForm, admin: AdminKeyForm, status: int = 200) -> tuple[str, int]:
    session = current_session()
    listed = keys.list_keys(session, kinds=(ADMIN, PEP))
    return render_template("keys/service.html", keys=listed, form=pep, admin_form=admin,
                           single_admin=single_admin(session), holds=holds), status


def key_created_page(result: dict[str, Any], *, old: keys.KeyInfo | None = None) -> Response:
    """The one page that ever shows this secret; kept out of every cache."""
    page = make_response(render_template("keys/created.html", secret=result["key"],
                                         key=keys.get_key(current_session(), result["prefix"]), old=old))
    page.headers["Cache-Control"] = "no-store"
    return page


def _guarded_key(change: Change, form: PepKeyForm | AdminKeyForm) -> Response | None:
    """Make the key (its secret shown once) or propose it; None, with the refusal on `form`."""
    try:
        outcome = submit(current_session(), change, actor=actor())
    except GovernError as error:
        form.form_errors.append(error.message)
        return None
    if outcome.applied and outcome.result is not None:
        return key_created_page(outcome.result)
    assert outcome.proposal is not None
    return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))


@bp.post("/service")
@roles_required("admin")
def new_pep_key() -> Response | tuple[str, int]:
    form = PepKeyForm()
    if form.validate_on_submit():
        expires = utc(form.expires_at.data)
        payload = {"name": form.name.data.strip(), "expires_at": expires.isoformat() if expires else None}
        if (made := _guarded_key(Change("key.pep", payload), form)) is not None:
            return made
    return _service_page(form, _admin_key_form(formdata=None), INVALID)


@bp.post("/service/admin")
@roles_required("admin")
def new_admin_key() -> Response | tuple[str, int]:
    """A guarded change, as in the admin API: an admin key is admin power for whoever holds it."""
    form = _admin_key_form()
    if form.validate_on_submit():
        expires = utc(form.expires_at.data)
        payload = {"user_id": form.user_id.data, "name": form.name.data.strip(),
                   "expires_at": expires.isoformat() if expires else None}
        if (made := _guarded_key(Change("key.admin", payload), form)) is not None:
            return made
    return _service_page(PepKeyForm(formdata=None), form, INVALID)


@bp.post("/new/<int(max=2147483647):org_id>")
@roles_required("admin")
def new(org_id: int) -> Response | tuple[str, int]:
    session = current_session()
    org = organisations.get_org(session, org_id)
    form = NewKeyForm()
    form.use_tiers(current_document(session).tiers)
    if form.validate_on_submit():
        try:
            issued = keys.issue_key(session, actor=actor(), org=org.id, name=form.name.data.strip(),
                                    tier_cap=form.tier_cap.data or None,
                                    expires_at=utc(form.expires_at.data))
            return key_created_page({"key": issued.secret, "prefix": issued.info.prefix})
        except GovernError as error:
            form.form_errors.append(error.message)
    return render_template("keys/new.html", org=org, form=form), INVALID


def _detail(prefix: str, cap: CapForm | None = None, expiry: ExpiryForm | None = None,
            status: int = 200) -> tuple[str, int]:
    session = current_session()
    key = keys.get_key(session, prefix)
    cap_form = cap or CapForm(formdata=None, tier_cap=key.tier_cap or NO_CAP)
    cap_form.use_tiers(current_document(session).tiers)
    return render_template("keys/detail.html", key=key, cap_form=cap_form,
                           expiry_form=expiry or ExpiryForm(formdata=None), rotate_form=RotateForm(),
                           confirm=ConfirmForm(), single_admin=single_admin(session), holds=holds,
                           org=_org_id(key)), status


def _org_id(key: keys.KeyInfo) -> int | None:
    return organisations.get_org(current_session(), key.organisation).id if key.organisation else None


@bp.get(f"/{PREFIX}")
@roles_required(*READERS)
def detail(prefix: str) -> tuple[str, int]:
    return _detail(prefix)


def _changed(prefix: str, payload: dict[str, Any], done: str) -> Response:
    """A key change through the guarded path: the key page, or the proposal when it waits."""
    keys.get_key(current_session(), prefix)  # 404 for an unknown key
    outcome: Outcome = submit(current_session(), Change("key.cap", {"prefix": prefix, **payload}),
                              actor=actor())
    if outcome.proposal is not None and not outcome.applied:
        return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))
    flash(done, "done")
    return redirect(url_for(".detail", prefix=prefix))


@bp.post(f"/{PREFIX}/cap")
@roles_required("admin")
def cap(prefix: str) -> Response | tuple[str, int]:
    form = CapForm()
    form.use_tiers(current_document(current_session()).tiers)
    if form.validate_on_submit():
        capped = form.tier_cap.data or None
        payload = {"tier_cap": capped, "clear_tier_cap": capped is None}
        try:
            return _changed(prefix, payload, f"The key is capped at {capped}." if capped else
                            "The key's cap is lifted: it has its organisation's tier.")
        except GovernError as error:
            form.form_errors.append(error.message)
    return _detail(prefix, cap=form, status=INVALID)


@bp.post(f"/{PREFIX}/expiry")
@roles_required("admin")
def expiry(prefix: str) -> Response | tuple[str, int]:
    form = ExpiryForm()
    if form.validate_on_submit():
        expires = utc(form.expires_at.data)
        if expires is None:
            form.form_errors.append("choose when the key expires")
        else:
            try:
                return _changed(prefix, {"expires_at": expires.isoformat()},
                                "The key's expiry is set.")
            except GovernError as error:
                form.form_errors.append(error.message)
    return _detail(prefix, expiry=form, status=INVALID)


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        raise InvalidInput("the form expired; reload the page and try again")


@bp.post(f"/{PREFIX}/suspend")
@roles_required("admin")
def suspend(prefix: str) -> Response:
    _confirmed()
    return _changed(prefix, {"suspended": True}, "Suspended: the key is refused until lifted.")


@bp.post(f"/{PREFIX}/lift")
@roles_required("admin")
def lift(prefix: str) -> Response:
    _confirmed()
    return _changed(prefix, {"suspended": False}, "The suspension is lifted.")


@bp.post(f"/{PREFIX}/rotate")
@roles_required("admin")
def rotate(prefix: str) -> Response:
    form = RotateForm()
    if not form.validate_on_submit():
        raise InvalidInput("choose how long the old key keeps working")
    until: datetime = utcnow() + timedelta(seconds=int(form.overlap.data))
    issued = keys.rotate_key(current_session(), prefix, actor=actor(), old_valid_until=until)
    return key_created_page({"key": issued.secret, "prefix": issued.info.prefix},
                    old=keys.get_key(current_session(), prefix))


@bp.route(f"/{PREFIX}/revoke", methods=["GET", "POST"])
@roles_required("admin")
def revoke(prefix: str) -> Response | str:
    key = keys.get_key(current_session(), prefix)
    form = ConfirmForm()
    if form.validate_on_submit():
        keys.revoke_key(current_session(), prefix, actor=actor())
        flash(f"Key {prefix} is revoked: it is refused from now on.", "done")
        return redirect(url_for(".detail", prefix=prefix))
    return render_template("keys/revoke.html", key=key, form=form)
