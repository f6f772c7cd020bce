from __future__ import annotations

from factories import add_models, make_key


def test_verified_key_is_allowed_standard_generation(client, session):
    add_models(session)
    key = make_key(session, "acme", tier="verified")
    response = client.post("/v1/check", json={"model": "chat-standard", "capability": "generate"},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    assert response.json["allow"] is True
    assert response.json["reason"] == "granted_by_tier"
