"""WTForms forms of the identity provider pages: an issuer and its ordered claim-to-tier rules.

The rules are a table of rows (the stored rules in order, then blank rows for new ones): each row
has an order number, so rules are reordered by renumbering them, and a Remove box. The forms check
each field so its message stands next to it; the issuer service checks the whole document again
when it is saved. Tier choices come from the live policy and are set by the view (`use_tiers`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from govern.errors import InvalidInput
from govern.identity.issuer_config import (
    ALLOWED_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    MAX_RULES,
    MAX_TEXT,
    ClaimRule,
    IssuerConfig,
    check_issuer_url,
    check_name,
)

BLANK_ROWS = 2
EMAIL_DOMAIN = "email_domain"
TESTS = [SelectChoice("contains", "contains (a list claim, e.g. groups)"),
         SelectChoice("equals", "equals (a string claim, e.g. client_id)"),
         SelectChoice(EMAIL_DOMAIN, "email domain (verified email)")]


def _strip(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


def _service_check(check: Callable[[str], str]) -> Callable[[Form, Field], None]:
    """A validator asking the issuer service's own check, so the form and the API agree."""

    def validate(_form: Form, field: Field) -> None:
        try:
            check(field.data or "")
        except InvalidInput as error:
            raise ValidationError(error.message) from None

    return validate


def _known_tier(_form: Form, field: Field) -> None:
    tiers = [str(choice[0]) for choice in field.iter_choices()]
    if field.data not in tiers:
        raise ValidationError(f"{field.data!r} is not a tier of the policy ({', '.join(tiers)})")


def _lines(text: str | None) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


def _audiences(_form: Form, field: Field) -> None:
    audiences = _lines(field.data)
    if not audiences:
        raise ValidationError("name at least one audience (a token's aud must be one of them)")
    too_long = [audience for audience in audiences if len(audience) > MAX_TEXT]
    if too_long:
        raise ValidationError(f"an audience is at most {MAX_TEXT} characters: {too_long[0][:60]}…")


class RuleForm(Form):  # type: ignore[misc]
    """One row of the rules table; blank or removed rows are not checked and not saved."""

    order = IntegerField("Order", validators=[Optional()])
    claim = StringField("Claim", filters=[_strip], validators=[Length(max=MAX_TEXT)])
    test = SelectField("Test", choices=TESTS, default="contains")
    value = StringField("Value", filters=[_strip], validators=[Length(max=MAX_TEXT)])
    tier = SelectField("Tier", validate_choice=False, validators=[_known_tier])
    remove = BooleanField("Remove")

    def is_blank(self) -> bool:
        return not self.claim.data and not self.value.data

    def skipped(self) -> bool:
        return self.is_blank() or bool(self.remove.data)

    def validate(self, extra_validators: Any = None) -> bool:
        if self.skipped():
            return True
        valid: bool = super().validate(extra_validators)
        return valid

    def validate_claim(self, field: Field) -> None:
        if self.test.data == EMAIL_DOMAIN and field.data:
            raise ValidationError("leave the claim empty: an email domain rule reads the verified email")
        if self.test.data != EMAIL_DOMAIN and not field.data:
            raise ValidationError("name the claim this rule reads, e.g. groups")

    def validate_value(self, field: Field) -> None:
        if not field.data:
            raise ValidationError("give the value the claim must contain or equal, or the email domain")

    def rule(self) -> dict[str, str]:
        """The rule as the issuer service reads it."""
        if self.test.data == EMAIL_DOMAIN:
            return {"email_domain": self.value.data, "tier": self.tier.data}
        return {"claim": self.claim.data, self.test.data: self.value.data, "tier": self.tier.data}


def _rule_row(rule: ClaimRule, order: int) -> dict[str, Any]:
    if rule.email_domain is not None:
        return {"order": order, "test": EMAIL_DOMAIN, "value": rule.email_domain, "tier": rule.tier}
    test, value = ("contains", rule.contains) if rule.contains is not None else ("equals", rule.equals)
    return {"order": order, "claim": rule.claim, "test": test, "value": value, "tier": rule.tier}


class IssuerForm(FlaskForm):  # type: ignore[misc]
    """The fields an admin edits; the issuer's name is fixed once it exists, and its admin sign-in
    (`sso`) section is kept as stored."""

    issuer = StringField("Issuer URL (exactly the iss of its tokens)", filters=[_strip],
                         validators=[DataRequired(), Length(max=MAX_TEXT), _service_check(check_issuer_url)])
    label = StringField("Label (shown as “Sign in with …”)", filters=[_strip],
                        validators=[Optional(), Length(max=MAX_TEXT)])
    audiences = TextAreaField("Audiences (one per line)", validators=[_audiences])
    algorithms = SelectMultipleField(
        "Allowed signing algorithms", choices=list(ALLOWED_ALGORITHMS), default=list(DEFAULT_ALGORITHMS),
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validators=[DataRequired("choose at least one algorithm")])
    default_tier = SelectField("Default tier (when no rule matches)", validate_choice=False,
                               validators=[DataRequired(), _known_tier])
    enabled = BooleanField("Enabled (trust its tokens)", default=True)
    rules = FieldList(FormField(RuleForm), max_entries=MAX_RULES + BLANK_ROWS)

    @classmethod
    def editing(cls, config: IssuerConfig) -> IssuerForm:
        """The submitted form; before it is submitted, the form filled with `config`."""
        form: IssuerForm = cls()
        if not form.is_submitted():
            form.process(data={
                "issuer": config.issuer, "label": config.label, "audiences": "\n".join(config.audiences),
                "algorithms": list(config.algorithms), "default_tier": config.default_tier,
                "enabled": config.enabled,
                "rules": [_rule_row(rule, index) for index, rule in enumerate(config.rules, start=1)]})
        return form

    def use_tiers(self, tiers: Sequence[str]) -> None:
        """Offer the policy's `tiers`; a form not yet submitted also gets its blank rows."""
        if not self.is_submitted():
            for order in range(len(self.rules) + 1, len(self.rules) + 1 + BLANK_ROWS):
                self.rules.append_entry({"order": order})
        self.default_tier.choices = list(tiers)
        for row in self.rules:
            row.form.tier.choices = list(tiers)

    def validate_rules(self, _field: Field) -> None:
        if len(self.ordered_rules()) > MAX_RULES:
            raise ValidationError(f"an issuer has at most {MAX_RULES} rules")

    def ordered_rules(self) -> list[dict[str, str]]:
        """The rows that are not blank or removed, by order number (rows without one go last)."""
        rows = [(row.form.order.data if row.form.order.data is not None else math.inf, index, row.form)
                for index, row in enumerate(self.rules) if not row.form.skipped()]
        return [form.rule() for _order, _index, form in sorted(rows, key=lambda entry: entry[:2])]

    def document(self) -> dict[str, Any]:
        """The edited fields as an issuer document (without `name` and `sso`)."""
        return {"issuer": self.issuer.data, "label": self.label.data or None,
                "audiences": _lines(self.audiences.data), "algorithms": self.algorithms.data,
                "default_tier": self.default_tier.data, "enabled": self.enabled.data,
                "rules": self.ordered_rules()}


class NewIssuerForm(IssuerForm):
    name = StringField("Name (lowercase letters, digits, '-'; cannot change later)", filters=[_strip],
                       validators=[DataRequired(), _service_check(check_name)])

    def document(self) -> dict[str, Any]:
        return {"name": self.name.data, **super().document()}


class DeleteIssuerForm(FlaskForm):  # type: ignore[misc]
    """The confirmation of a deletion: nothing but its CSRF token."""
