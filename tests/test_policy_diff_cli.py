"""`govern policy diff DIR` and `govern policy impact DIR --days N`: a draft folder compared with the
live policy and replayed over the decision log; nothing is stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from factories import add_models, log_decision
from sqlalchemy.orm import Session

from govern.policy.store import current_policy


def draft_folder(govern: Any, folder: Path) -> dict[str, Any]:
    assert govern("policy", "export", str(folder)).exit_code == 0
    document: dict[str, Any] = yaml.safe_load((folder / "policy.yaml").read_text())
    return document


def remove_verified_standard_generate(folder: Path, document: dict[str, Any]) -> None:
    removed = ("verified", "standard", "generate")
    document["grants"] = [g for g in document["grants"]
                          if (g["tier"], g["target"], g["capability"]) != removed]
    (folder / "policy.yaml").write_text(yaml.safe_dump(document))


def test_policy_diff_prints_the_changes_and_stores_nothing(govern: Any, session: Session,
                                                           tmp_path: Path) -> None:
    version = current_policy(session).version
    document = draft_folder(govern, tmp_path / "draft")
    document["capabilities"].append("embed")
    remove_verified_standard_generate(tmp_path / "draft", document)

    result = govern("policy", "diff", str(tmp_path / "draft"))

    assert result.exit_code == 0
    assert result.output == (f"{tmp_path / 'draft'} against live policy version {version}:\n"
                             "+ capability embed\n"
                             "- grant allow verified generate on standard\n")
    session.rollback()
    assert current_policy(session).version == version


def test_policy_diff_of_the_live_policy_is_no_change(govern: Any, tmp_path: Path) -> None:
    draft_folder(govern, tmp_path / "draft")
    assert govern("policy", "diff", str(tmp_path / "draft")).output.splitlines()[1:] == ["no change"]


def test_policy_impact_counts_flips_by_organisation(govern: Any, session: Session, tmp_path: Path) -> None:
    add_models(session)
    first = log_decision(session, org="acme", tier="verified", model="chat-standard",
                         capability="generate", allow=True, reason="granted_by_tier")
    log_decision(session, org="acme", tier="verified", model="chat-standard", capability="generate",
                 allow=True, reason="rate_limited")
    session.commit()
    remove_verified_standard_generate(tmp_path / "draft", draft_folder(govern, tmp_path / "draft"))

    result = govern("policy", "impact", str(tmp_path / "draft"), "--days", "3")

    assert result.exit_code == 0
    assert result.output == ("1 policy answer(s) of the last 3 day(s) replayed (1 distinct question(s))\n"
                             "1 answer(s) would flip allow -> deny\n"
                             f"  organisation acme: 1 (e.g. {first})\n"
                             f"  model chat-standard: 1 (e.g. {first})\n"
                             f"  capability generate: 1 (e.g. {first})\n"
                             "0 answer(s) would flip deny -> allow\n")


def test_policy_impact_with_bad_days_fails_in_one_line(govern: Any, tmp_path: Path) -> None:
    draft_folder(govern, tmp_path / "draft")
    result = govern("policy", "impact", str(tmp_path / "draft"), "--days", "0")
    assert result.exit_code != 0
    assert result.output.strip().splitlines() == ["Error: days must be a whole number from 1 to 366"]
