"""A policy as a folder: `model.conf` (Casbin model) and `policy.yaml` (the policy document)."""

from __future__ import annotations

from pathlib import Path

from govern.errors import InvalidInput, PolicyRejected
from govern.policy.casbin_answers import load_model
from govern.policy.document import PolicyDocument, parse_document
from govern.yaml_input import dump_yaml, load_yaml

MODEL_FILE = "model.conf"
POLICY_FILE = "policy.yaml"


def read_policy_dir(folder: Path) -> tuple[PolicyDocument, str]:
    """Read and validate a policy folder; raises InvalidInput or PolicyRejected."""
    try:
        model_conf = (folder / MODEL_FILE).read_text()
        text = (folder / POLICY_FILE).read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the policy folder {folder}: {exc.strerror}: "
                           f"{exc.filename}", code="policy_folder_unreadable") from None
    raw = load_yaml(text, str(folder / POLICY_FILE), error=PolicyRejected)
    load_model(model_conf)
    return parse_document(raw), model_conf


def write_policy_dir(folder: Path, document: PolicyDocument, model_conf: str, version: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_text(model_conf)
    header = f"# govern policy, exported at version {version}. Import with `govern policy import`.\n"
    body = dump_yaml(document.as_dict(), sort_keys=False, default_flow_style=None, width=100)
    (folder / POLICY_FILE).write_text(header + body)
