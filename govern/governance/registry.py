"""Models under governance: registering a model version, finding it, listing them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput, NotFound
from govern.governance.changes import commit_change, model_target, note_change
from govern.governance.presets import DEFAULT_PRESET, get_preset
from govern.models import GovernedModel
from govern.policy.document import NAME
from govern.policy.store import change_policy, current_document


def register_model(session: Session, *, actor: str, name: str, version: str, owner: str,
                   model_group: str, description: str = "", preset: str = DEFAULT_PRESET) -> GovernedModel:
    """Put a model under governance. From now on only the top tier reaches it until it is signed off.

    A model not yet in the policy is added to `model_group` in the same transaction; a model already
    in the policy must be in that group. Raises InvalidInput, Conflict."""
    if not NAME.match(name):
        raise InvalidInput(f"{name!r} is not a valid model name (letters, digits, . _ : -)",
                           code="invalid_model_name")
    for label, value in (("version", version), ("owner", owner)):
        if not value.strip():
            raise InvalidInput(f"{label} is required", code=f"missing_{label}")
    get_preset(preset)
    document = current_document(session)
    if model_group not in document.model_groups:
        raise InvalidInput(f"unknown model group {model_group!r}; groups are "
                           f"{', '.join(document.model_groups)}", code="unknown_model_group")
    in_policy = document.models.get(name)
    if in_policy is not None and in_policy != model_group:
        raise Conflict(f"{name} is in the group {in_policy!r} of the policy, not {model_group!r}",
                       code="model_group_mismatch")
    model = GovernedModel(name=name, version=version.strip(), owner=owner.strip(),
                          model_group=model_group, description=description.strip(), preset=preset,
                          created_by=actor)
    session.add(model)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"{name} is already under governance", code="model_exists") from None
    after = model_facts(model)
    if in_policy is None:
        def add(raw: dict[str, Any]) -> None:
            raw["model_groups"][model_group].append(name)

        # change_policy commits, so the model, its policy entry and both events land together.
        note_change(session, actor=actor, action="model.register", target=model_target(name), after=after)
        change_policy(session, add, actor=actor, comment=f"registered {name} under governance")
    else:
        commit_change(session, actor=actor, action="model.register", target=model_target(name), after=after)
    return model


def model_facts(model: GovernedModel) -> dict[str, Any]:
    return {"name": model.name, "version": model.version, "owner": model.owner,
            "model_group": model.model_group, "description": model.description, "preset": model.preset}


def get_model(session: Session, model_id: int) -> GovernedModel:
    model = session.get(GovernedModel, model_id)
    if model is None:
        raise NotFound(f"no model {model_id} under governance", code="model_not_found")
    return model


def find_model(session: Session, name: str) -> GovernedModel:
    model = session.execute(select(GovernedModel).where(GovernedModel.name == name)).scalar()
    if model is None:
        raise NotFound(f"{name} is not under governance", code="model_not_found")
    return model


def list_models(session: Session) -> list[GovernedModel]:
    return list(session.execute(select(GovernedModel).order_by(GovernedModel.name)).scalars())
