"""Identity providers: the trusted issuers, each with its ordered claim-to-tier rules and its change
history. Adding and editing one are guarded changes: they go through the proposals service, as in
the admin API, and wait for a second admin's approval when there is one. Deleting applies at once."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.identity_forms import DeleteIssuerForm, IssuerForm, NewIssuerForm
from govern.audit.timeline import events_for_target
from govern.errors import GovernError
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import Outcome, single_admin, submit
from govern.identity.issuers import (
    ALL_ISSUERS,
    configuration_version,
    delete_issuer,
    issuer_target,
    stored_issuer,
    stored_issuers,
)
from govern.policy.store import current_document

bp = Blueprint("identity", __name__, url_prefix="/identity-providers")
html_errors(bp)
INVALID = 400


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    session = current_session()
    return render_template("identity/list.html", issuers=stored_issuers(session),
                           version=configuration_version(session), holds=holds)


@bp.get("/<name>")
@roles_required(*READERS)
def detail(name: str) -> str:
    session = current_session()
    # An import replaces every issuer at once, so its events belong to each issuer's history too.
    events = events_for_target(session, issuer_target(name), ALL_ISSUERS)
    return render_template("identity/detail.html", stored=stored_issuer(session, name), events=events,
                           holds=holds)


def _form_page(form: IssuerForm, name: str | None) -> tuple[str, int]:
    status = INVALID if form.is_submitted() else 200
    return render_template("identity/form.html", form=form, name=name,
                           single_admin=single_admin(current_session())), status


def _after(outcome: Outcome, name: str) -> Response:
    """The issuer when it applied at once; the proposal when it waits for a second admin."""
    if outcome.applied or outcome.proposal is None:
        return redirect(url_for(".detail", name=name))
    return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def new() -> Response | tuple[str, int]:
    form = NewIssuerForm()
    form.use_tiers(current_document(current_session()).tiers)
    if form.validate_on_submit():
        try:
            doc = form.document()
            outcome = submit(current_session(), Change("issuer.set", {"create": True, "doc": doc}),
                             actor=actor())
            return _after(outcome, doc["name"])
        except GovernError as error:
            form.form_errors.append(error.message)
    return _form_page(form, None)


@bp.route("/<name>/edit", methods=["GET", "POST"])
@roles_required("admin")
def edit(name: str) -> Response | tuple[str, int]:
    session = current_session()
    current = stored_issuer(session, name).config
    form = IssuerForm.editing(current)
    form.use_tiers(current_document(session).tiers)
    if form.validate_on_submit():
        try:
            # The form leaves out what it does not edit (the admin sign-in section): keep it as stored.
            doc = {**current.as_dict(), **form.document()}
            return _after(submit(session, Change("issuer.set", {"name": name, "doc": doc}),
                                 actor=actor()), name)
        except GovernError as error:
            form.form_errors.append(error.message)
    return _form_page(form, name)


@bp.route("/<name>/delete", methods=["GET", "POST"])
@roles_required("admin")
def delete(name: str) -> Response | str:
    stored = stored_issuer(current_session(), name)
    form = DeleteIssuerForm()
    if form.validate_on_submit():
        delete_issuer(current_session(), name, actor=actor())
        return redirect(url_for(".index"))
    return render_template("identity/delete.html", stored=stored, form=form)
