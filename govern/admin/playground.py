"""The decision playground: "would this caller be allowed?" for admins and auditors. Asking records
nothing and changes nothing (govern.decisions.playground), so auditors may ask too."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, render_template
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import Field, Form, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from govern.admin.access import READERS, html_errors, roles_required
from govern.api import runtime
from govern.decisions.playground import Question, explain
from govern.errors import GovernError, InvalidInput
from govern.extensions import current_session
from govern.identity.issuers import list_issuers
from govern.identity.organisations import list_orgs
from govern.policy.document import PolicyDocument, parse_document
from govern.policy.store import current_document

bp = Blueprint("playground", __name__, url_prefix="/playground")
html_errors(bp)
INVALID = 400
MAX_DRAFT = 1_000_000
CALLERS = [SelectChoice("organisation", "An organisation"), SelectChoice("key", "A key"),
           SelectChoice("issuer", "An identity (issuer and claims)"), SelectChoice("tier", "A bare tier")]


def _json_object(_form: Form, field: Field) -> None:
    if not (field.data or "").strip():
        return
    try:
        value = json.loads(field.data)
    except ValueError as error:
        raise ValidationError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object, {...}")


class PlaygroundForm(FlaskForm):  # type: ignore[misc]
    caller = RadioField("Caller", choices=CALLERS, default="organisation")
    organisation = SelectField("Organisation", choices=[], validate_choice=False)
    key = StringField("Key prefix", validators=[Length(max=200)])
    issuer = SelectField("Issuer", choices=[], validate_choice=False)
    claims = TextAreaField("Claims (JSON)", validators=[Length(max=20_000), _json_object])
    tier = SelectField("Tier", choices=[], validate_choice=False)
    model = StringField("Model", validators=[DataRequired(), Length(max=200)])
    capability = StringField("Capability", validators=[DataRequired(), Length(max=200)])
    draft = TextAreaField("Draft policy (JSON, optional)", validators=[Length(max=MAX_DRAFT), _json_object])
    draft_file = FileField("…or upload a draft policy (JSON)")

    def use_choices(self, organisations: list[str], issuers: list[str], tiers: list[str]) -> None:
        self.organisation.choices = [SelectChoice(name, name) for name in organisations]
        self.issuer.choices = [SelectChoice(name, name) for name in issuers]
        self.tier.choices = [SelectChoice(name, name) for name in tiers]

    def validate_key(self, field: Field) -> None:
        if self.caller.data == "key" and not (field.data or "").strip():
            raise ValidationError("type the key's prefix (e.g. gvk_1a2b3c4d5e6f)")

    def validate_organisation(self, field: Field) -> None:
        if self.caller.data == "organisation" and not field.data:
            raise ValidationError("there is no organisation to pick yet")

    def validate_issuer(self, field: Field) -> None:
        if self.caller.data == "issuer" and not field.data:
            raise ValidationError("there is no identity provider to pick yet")

    def question(self) -> Question:
        kind = self.caller.data
        claims: dict[str, Any] = json.loads(self.claims.data) if (self.claims.data or "").strip() else {}
        return Question(self.model.data.strip(), self.capability.data.strip(),
                        organisation=self.organisation.data if kind == "organisation" else None,
                        key=self.key.data.strip() if kind == "key" else None,
                        issuer=self.issuer.data if kind == "issuer" else None,
                        claims=claims if kind == "issuer" else {},
                        tier=self.tier.data if kind == "tier" else None)

    def document(self) -> PolicyDocument | None:
        """The draft (an uploaded file wins over the pasted text), or None: the live policy.
        Raises InvalidInput when it is not a policy document."""
        text = self.draft.data or ""
        upload = self.draft_file.data
        if isinstance(upload, FileStorage) and upload.filename:
            raw = upload.read(MAX_DRAFT + 1)
            try:
                text = raw.decode("utf-8")
                value = json.loads(text) if len(raw) <= MAX_DRAFT else None
            except ValueError:
                value = None
            if not isinstance(value, dict):
                raise InvalidInput("the uploaded draft is not a JSON object of at most 1 MB",
                                   code="invalid_draft")
            return parse_document(value)
        return parse_document(json.loads(text)) if text.strip() else None


@bp.route("", methods=["GET", "POST"])
@roles_required(*READERS)
def index() -> tuple[str, int]:
    session = current_session()
    live = current_document(session)
    form = PlaygroundForm()
    form.use_choices([org.name for org in list_orgs(session)],
                     [issuer.name for issuer in list_issuers(session)], list(live.tiers))
    answer, status = None, 200
    if form.is_submitted():
        status = INVALID
        if form.validate():
            try:
                answer = explain(session, form.question(), form.document(),
                                 limiter=runtime().rate_limiter)
                status = 200
            except GovernError as error:
                form.form_errors.append(error.message)
    return render_template("playground/index.html", form=form, answer=answer, live=live), status
