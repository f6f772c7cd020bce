"""`govern keys create --pep`: a key for a policy enforcement point, usable on the AuthZEN API."""

from __future__ import annotations

import re
from typing import Any

from factories import add_models, make_key
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

KEY = r"gvk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}"


def test_pep_key_from_the_cli_asks_authzen_questions(govern: Any, client: FlaskClient,
                                                    session: Session) -> None:
    add_models(session)
    subject = make_key(session, "acme", tier="free")[:16]

    result = govern("keys", "create", "--pep", "--name", "nginx-edge")

    assert result.exit_code == 0, result.output
    secret = re.search(KEY, result.output)
    assert secret is not None
    listed = govern("keys", "list")
    assert re.search(rf"{secret.group()[:16]}\s+active\s+pep\s+enforcement point .* nginx-edge",
                     listed.output)
    answer = client.post("/access/v1/evaluation", headers={"Authorization": f"Bearer {secret.group()}"},
                         json={"subject": {"type": "api_key", "id": subject},
                               "resource": {"type": "model", "id": "open-7b"},
                               "action": {"name": "generate"}})
    assert answer.json["decision"] is True


def test_pep_key_needs_a_name_and_no_organisation(govern: Any, session: Session) -> None:
    make_key(session, "acme", tier="free")

    unnamed = govern("keys", "create", "--pep")
    both = govern("keys", "create", "--pep", "--org", "acme", "--name", "x")
    neither = govern("keys", "create", "--name", "x")

    assert unnamed.exit_code == both.exit_code == neither.exit_code == 1
    assert "needs a name" in unnamed.output
    assert "give --org for a client key, or --pep" in both.output
    assert "give --org for a client key, or --pep" in neither.output
