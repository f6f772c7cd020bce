"""Models under governance: registering a model, a new version of it, retiring it; finding them.

Every version is a row of its own; the newest version of a name answers for it (see
GovernedModel), so a new version starts with no rating, no review and no sign-off: closed to all
but the top tier until it is signed off, whatever the older version's sign-off said."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from govern.errors import Conflict, InvalidInput, NotFound
from govern.governance.changes import commit_change, model_target, note_change
from govern.governance.holds import hold_facts, open_hold, start_hold
from govern.governance.presets import DEFAULT_PRESET, get_preset
from govern.models import GovernedModel
from govern.models.base import get_or_not_found, utcnow
from govern.policy.document import NAME
from govern.policy.store import change_policy, current_document


def _add_unique(session: Session, row: GovernedModel, taken: Conflict) -> None:
    """Add `row`, or raise `taken` when another writer stored the same (name, version) first."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise taken from None


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
    if session.execute(select(GovernedModel.id).where(GovernedModel.name == name).limit(1)).first():
        raise Conflict(f"{name} is already under governance: register a new version of it instead",
                       code="model_exists")
    model = GovernedModel(name=name, version=version.strip(), owner=owner.strip(),
                          model_group=model_group, description=description.strip(), preset=preset,
                          created_by=actor)
    _add_unique(session, model, Conflict(f"{name} is already under governance: register a new version of "
                                         "it instead", code="model_exists"))
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


def register_version(session: Session, *, actor: str, model: GovernedModel, version: str,
                     description: str = "") -> GovernedModel:
    """A new version of `model` (its newest): same name, owner, group and preset, no rating, review
    or sign-off, so only the top tier reaches it until it is signed off; the older version's rows
    stay as its record. A suspension and an open hold carry over (a new version must not be a way
    round the kill switch or the board's reversal): a held model's new version waits, as the old
    one did, for the board's release if the preset asks for it. Raises InvalidInput, Conflict."""
    if not version.strip():
        raise InvalidInput("version is required", code="missing_version")
    _check_newest(session, model)  # a retired model may have a successor
    new = GovernedModel(name=model.name, version=version.strip(), owner=model.owner,
                        model_group=model.model_group, preset=model.preset, created_by=actor,
                        description=description.strip() or model.description,
                        suspended=model.suspended, suspension_reason=model.suspension_reason)
    _add_unique(session, new, Conflict(f"{model.name} already has a version {version.strip()!r}",
                                       code="version_exists"))
    after: dict[str, Any] = {**model_facts(new), "id": new.id, "previous_id": model.id,
                             "suspended": new.suspended}
    held = open_hold(session, model)
    if held is not None:
        carried = start_hold(session, actor=actor, model=new, cause=held.cause)
        carried.released_at, carried.released_by = held.released_at, held.released_by
        carried.release_rationale = held.release_rationale
        after |= hold_facts(carried)
    commit_change(session, actor=actor, action="model.register", target=model_target(model.name),
                  before=model_facts(model), after=after)
    return new


def retire_model(session: Session, *, actor: str, model: GovernedModel, reason: str) -> None:
    """Close the model's newest version to every tier for good; its records stay. Raises
    InvalidInput, Conflict."""
    if not reason.strip():
        raise InvalidInput("say why the model is retired", code="missing_reason")
    check_current(session, model)
    model.retired_at, model.retired_by, model.retirement_reason = utcnow(), actor, reason.strip()
    commit_change(session, actor=actor, action="model.retire", target=model_target(model.name),
                  before={"version": model.version, "retired": False},
                  after={"version": model.version, "retired": True, "reason": model.retirement_reason})


def check_current(session: Session, model: GovernedModel) -> None:
    """Raises Conflict unless `model` is the newest version of its name and not retired."""
    _check_newest(session, model)
    if model.retired_at is not None:
        raise Conflict(f"{model.name} {model.version} is retired", code="model_retired")


def _check_newest(session: Session, model: GovernedModel) -> None:
    if newest_version(session, model.name).id != model.id:
        raise Conflict(f"{model.name} {model.version} has been followed by a newer version",
                       code="version_superseded")


def model_facts(model: GovernedModel) -> dict[str, Any]:
    return {"name": model.name, "version": model.version, "owner": model.owner,
            "model_group": model.model_group, "description": model.description, "preset": model.preset}


def get_model(session: Session, model_id: int) -> GovernedModel:
    return get_or_not_found(session, GovernedModel, model_id, f"no model {model_id} under governance",
                            "model_not_found")


def find_model(session: Session, name: str) -> GovernedModel:
    """The newest version of `name`: the one that answers for it. Raises NotFound."""
    return newest_version(session, name)


def newest_version(session: Session, name: str) -> GovernedModel:
    model = session.execute(select(GovernedModel).where(GovernedModel.name == name)
                            .order_by(GovernedModel.id.desc()).limit(1)).scalar()
    if model is None:
        raise NotFound(f"{name} is not under governance", code="model_not_found")
    return model


def model_versions(session: Session, name: str) -> list[GovernedModel]:
    """Every version of `name`, newest first."""
    return list(session.execute(select(GovernedModel).where(GovernedModel.name == name)
                                .order_by(GovernedModel.id.desc())).scalars())


def list_models(session: Session, *, descending: bool = False, offset: int = 0,
                limit: int | None = None) -> list[GovernedModel]:
    """The newest version of each model under governance, by name (Z to A when `descending`);
    `limit` of them from `offset`, for paging."""
    newest = select(func.max(GovernedModel.id)).group_by(GovernedModel.name)
    order = GovernedModel.name.desc() if descending else GovernedModel.name.asc()
    return list(session.execute(select(GovernedModel).where(GovernedModel.id.in_(newest))
                                .order_by(order).offset(offset).limit(limit)).scalars())
