"""Organisations: the searchable table, one organisation's page (its keys, recent decisions and
denials), and creating, re-tiering, suspending and deleting one. Creating one above the lowest tier
and raising a tier are guarded changes: they go through the proposals service, as in the admin API,
and wait for a second admin's approval when there is one."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from govern.admin.access import READERS, actor, holds, html_errors, roles_required
from govern.admin.charts import line_chart
from govern.admin.people_forms import ConfirmForm
from govern.admin.principal_forms import NewKeyForm, NewOrgForm, TierForm
from govern.api import runtime
from govern.decisions.denials import recent_decisions, recent_denials
from govern.decisions.usage_stats import org_usage
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session
from govern.governance.proposal_kinds import Change
from govern.governance.proposals import Outcome, single_admin, submit
from govern.identity import keys, organisations
from govern.identity.org_search import SORTS, OrgQuery, search_orgs
from govern.models.base import utcnow
from govern.policy.store import current_document

bp = Blueprint("organisations", __name__, url_prefix="/organisations")
html_errors(bp)
ORG_ID = "<int(max=2147483647):org_id>"
INVALID = 400
SUSPENDED = {"yes": True, "no": False}


def _query() -> OrgQuery:
    args = request.args
    page = args.get("page", "1")
    return OrgQuery(q=args.get("q", "")[:200], tier=args.get("tier") or None,
                    suspended=SUSPENDED.get(args.get("suspended", "")),
                    sort=args.get("sort", "name"), page=int(page) if page.isdigit() else 1)


@bp.get("")
@roles_required(*READERS)
def index() -> str:
    session = current_session()
    query = _query()
    return render_template("organisations/list.html", result=search_orgs(session, query),
                           query=query, args=request.args, sorts=SORTS,
                           tiers=current_document(session).tiers, holds=holds)


def _tier_form() -> TierForm:
    form = TierForm()
    form.use_tiers(current_document(current_session()).tiers)
    return form


def _after(outcome: Outcome, done: str) -> Response:
    """The organisation when the change applied at once; its proposal when it waits."""
    if outcome.proposal is not None and not outcome.applied:
        return redirect(url_for("proposals.detail", proposal_id=outcome.proposal.id))
    assert outcome.result is not None
    flash(done, "done")
    return redirect(url_for(".detail", org_id=outcome.result["id"]))


@bp.route("/new", methods=["GET", "POST"])
@roles_required("admin")
def new() -> Response | tuple[str, int]:
    session = current_session()
    form = NewOrgForm()
    form.use_tiers(current_document(session).tiers)
    if form.validate_on_submit():
        try:
            change = Change("org.tier", {"name": form.name.data.strip(), "tier": form.tier.data})
            return _after(submit(session, change, actor=actor()), f"Created {form.name.data.strip()}.")
        except GovernError as error:
            form.form_errors.append(error.message)
    status = INVALID if form.is_submitted() else 200
    return render_template("organisations/new.html", form=form, single_admin=single_admin(session),
                           lowest=current_document(session).tiers[0]), status


def _detail(org_id: int, tier_form: TierForm | None = None, status: int = 200) -> tuple[str, int]:
    session = current_session()
    org = organisations.get_org(session, org_id)
    document = current_document(session)
    tiers = document.tiers
    form = tier_form or _tier_form()
    if tier_form is None:
        form.tier.data = org.tier
    key_form = NewKeyForm(formdata=None)
    key_form.use_tiers(tiers)
    used = org_usage(session, org_id, document.budgets_for(org.tier, org.name), runtime().budgets, utcnow())
    return render_template(
        "organisations/detail.html", org=org, keys=keys.list_keys(session, org_id),
        decisions=recent_decisions(session, org_id), denials=recent_denials(session, org_id),
        tier_form=form, key_form=key_form, confirm=ConfirmForm(), single_admin=single_admin(session),
        holds=holds, usage=used, rate_limit=document.rate_limits.get(org.tier),
        usage_chart=line_chart({"tokens": used.tokens}, [day[5:] for day in used.days], ["tokens"]),
        currency=current_app.extensions["govern.settings"].currency), status


@bp.get(f"/{ORG_ID}")
@roles_required(*READERS)
def detail(org_id: int) -> tuple[str, int]:
    return _detail(org_id)


@bp.post(f"/{ORG_ID}/tier")
@roles_required("admin")
def tier(org_id: int) -> Response | tuple[str, int]:
    form = _tier_form()
    if form.validate_on_submit():
        try:
            change = Change("org.tier", {"org_id": org_id, "tier": form.tier.data})
            return _after(submit(current_session(), change, actor=actor()),
                          f"The tier is now {form.tier.data}.")
        except GovernError as error:
            form.form_errors.append(error.message)
    return _detail(org_id, form, INVALID)


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        raise InvalidInput("the form expired; reload the page and try again")


def _suspend(org_id: int, suspended: bool) -> Response:
    _confirmed()
    # Through the guarded path like every organisation change; a suspension never widens access,
    # and lifting one restores only the tier a second admin already let stand.
    change: dict[str, Any] = {"org_id": org_id, "suspended": suspended}
    done = ("Suspended: every key of this organisation is refused until the suspension is lifted."
            if suspended else "The suspension is lifted.")
    return _after(submit(current_session(), Change("org.tier", change), actor=actor()), done)


@bp.post(f"/{ORG_ID}/suspend")
@roles_required("admin")
def suspend(org_id: int) -> Response:
    return _suspend(org_id, True)


@bp.post(f"/{ORG_ID}/lift")
@roles_required("admin")
def lift(org_id: int) -> Response:
    return _suspend(org_id, False)


@bp.post(f"/{ORG_ID}/delete")
@roles_required("admin")
def delete(org_id: int) -> Response:
    _confirmed()
    session = current_session()
    name = organisations.get_org(session, org_id).name
    try:
        organisations.delete_org(session, org_id, actor=actor())
    except GovernError as error:
        flash(error.message, "danger")
        return redirect(url_for(".detail", org_id=org_id))
    flash(f"Deleted {name}.", "done")
    return redirect(url_for(".index"))
