"""API keys: format, storage as a digest only, revocation, expiry, rotation with an overlap window,
last-used times written in batches, and the rules around organisations and tier caps."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import ACTOR, add_models, make_key, make_org
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from govern.decisions.runtime import Runtime
from govern.errors import Conflict, InvalidInput
from govern.extensions import db
from govern.identity.directory import AuthFailure, KeyDirectory
from govern.identity.keys import get_key, issue_key, list_keys, revoke_key, rotate_key, update_key
from govern.identity.organisations import delete_org, list_orgs
from govern.models import ApiKey, AuditEvent
from govern.models.api_key import CLIENT
from govern.models.base import utcnow

KEY_FORMAT = re.compile(r"^gvk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")
HOUR = 3600.0


def prefix(key: str) -> str:
    return key[:16]


def runtime(app: Flask) -> Runtime:
    """The app's decision runtime, caught up with changes the test just made."""
    current: Runtime = app.extensions["govern.runtime"].get()
    current.refresh()
    return current


def failure(directory: KeyDirectory, key: str, now: float) -> str:
    """The reason `key` is refused at time `now` (fails the test if it is accepted)."""
    with pytest.raises(AuthFailure) as refused:
        directory.authenticate(key, now, CLIENT)
    return refused.value.reason.value


def check(client: FlaskClient, key: str) -> tuple[int, str]:
    response = client.post("/v1/check", json={"model": "open-7b", "capability": "generate"},
                           headers={"Authorization": f"Bearer {key}"})
    body = response.get_json()
    return response.status_code, body["reason"] if response.status_code == 200 else body["code"]


def committed(session: Session) -> Session:
    """The session, reading what is committed now rather than an older snapshot."""
    session.rollback()
    return session


@pytest.fixture
def acme(session: Session) -> str:
    """Organisation acme in tier verified, with the test models in the policy."""
    add_models(session)
    make_org(session, "acme", "verified")
    return "acme"


# -- format and storage ----------------------------------------------------------------------------
def test_key_has_the_documented_format(session: Session, acme: str) -> None:
    key = make_key(session, acme)

    assert KEY_FORMAT.match(key), key
    assert get_key(session, prefix(key)).prefix == prefix(key)


def test_every_key_is_different(session: Session, acme: str) -> None:
    keys = {make_key(session, acme) for _ in range(5)}

    assert len(keys) == 5
    assert len({prefix(key) for key in keys}) == 5


def test_database_row_holds_the_sha256_digest_and_never_the_secret(session: Session,
                                                                  acme: str) -> None:
    key = make_key(session, acme, name="ci")

    row = session.execute(text("SELECT * FROM api_key WHERE prefix = :p"),
                          {"p": prefix(key)}).mappings().one()

    assert row["digest"] == hashlib.sha256(key.encode()).hexdigest()
    secret_part = key[len("gvk_0123456789ab_"):]
    for column, value in row.items():
        assert secret_part not in str(value), column


@pytest.mark.sqlite_only
def test_secret_is_nowhere_in_the_database_files(app: Flask, client: FlaskClient,
                                                 session: Session, acme: str,
                                                 instance: Path) -> None:
    key = make_key(session, acme)
    assert check(client, key) == (200, "granted_by_tier")  # a decision row and audit events exist
    runtime(app).keys.flush_last_used()
    db.session.remove()

    secret_part = key[len("gvk_0123456789ab_"):].encode()
    files = [path for path in instance.iterdir() if path.name.startswith("govern.db")]
    assert files
    for path in files:
        content = path.read_bytes()
        assert secret_part not in content, path.name
    assert any(prefix(key).encode() in path.read_bytes() for path in files)


def test_key_info_never_carries_the_secret(session: Session, acme: str) -> None:
    key = make_key(session, acme)

    info = get_key(session, prefix(key)).as_dict()

    assert key not in repr(info)
    assert key[len("gvk_0123456789ab_"):] not in repr(info)


# -- authentication --------------------------------------------------------------------------------
def test_valid_key_is_accepted(app: Flask, session: Session, acme: str) -> None:
    key = make_key(session, acme)

    entry = runtime(app).keys.authenticate(key, time.time(), CLIENT)

    assert (entry.prefix, entry.org_name, entry.org_tier) == (prefix(key), "acme", "verified")


def test_wrong_secret_with_a_real_prefix_is_unknown(app: Flask, session: Session,
                                                    acme: str) -> None:
    key = make_key(session, acme)
    forged = prefix(key) + "_" + "A" * 43

    assert failure(runtime(app).keys, forged, time.time()) == "key_unknown"


@pytest.mark.parametrize("raw", ["", "not-a-key", "gvk_123_abc", "gvk_0123456789ab_"],
                         ids=["empty", "garbage", "short-id", "no-secret"])
def test_malformed_key_is_refused(app: Flask, session: Session, raw: str) -> None:
    reason = failure(runtime(app).keys, raw, time.time())

    assert reason == ("key_missing" if raw == "" else "key_unknown")


def test_revoked_key_is_denied(app: Flask, session: Session, acme: str) -> None:
    key = make_key(session, acme)
    directory = runtime(app).keys
    directory.authenticate(key, time.time(), CLIENT)  # now cached

    revoke_key(session, prefix(key), actor=ACTOR)

    assert failure(runtime(app).keys, key, time.time()) == "key_revoked"
    assert get_key(session, prefix(key)).status == "revoked"


def test_revoked_key_gets_401_key_revoked_from_check(app: Flask, client: FlaskClient,
                                                     session: Session, acme: str) -> None:
    key = make_key(session, acme)
    assert check(client, key) == (200, "granted_by_tier")

    revoke_key(session, prefix(key), actor=ACTOR)
    runtime(app)

    assert check(client, key) == (401, "key_revoked")


def test_revoking_twice_keeps_the_first_revocation(session: Session, acme: str) -> None:
    key = make_key(session, acme)
    first = revoke_key(session, prefix(key), actor=ACTOR)

    second = revoke_key(session, prefix(key), actor=ACTOR)

    assert second.revoked_at == first.revoked_at


def test_key_expires_at_its_expiry(app: Flask, session: Session, acme: str) -> None:
    key = make_key(session, acme, expires_at=utcnow() + timedelta(hours=1))
    directory = runtime(app).keys
    now = time.time()

    assert directory.authenticate(key, now, CLIENT).prefix == prefix(key)
    assert failure(directory, key, now + 2 * HOUR) == "key_expired"


def test_expired_key_gets_401_key_expired_from_check(app: Flask, client: FlaskClient,
                                                     session: Session, acme: str) -> None:
    key = make_key(session, acme, expires_at=utcnow() + timedelta(hours=1))
    # let the expiry pass: move it into the past behind the service's back
    row = session.execute(select(ApiKey).where(ApiKey.prefix == prefix(key))).scalar_one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()

    assert check(client, key) == (401, "key_expired")
    assert get_key(session, prefix(key)).status == "expired"


def test_expiry_in_the_past_is_refused(session: Session, acme: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        make_key(session, acme, expires_at=utcnow() - timedelta(minutes=1))

    assert refused.value.code == "invalid_time"


# -- rotation --------------------------------------------------------------------------------------
def test_rotated_key_overlaps_then_the_old_one_expires(app: Flask, session: Session,
                                                       acme: str) -> None:
    old = make_key(session, acme, name="ci", tier_cap="free")
    now = time.time()

    new = rotate_key(session, prefix(old), actor=ACTOR,
                     old_valid_until=utcnow() + timedelta(hours=1))

    directory = runtime(app).keys
    assert directory.authenticate(new.secret, now, CLIENT).prefix == new.info.prefix
    assert directory.authenticate(old, now, CLIENT).prefix == prefix(old)
    assert failure(directory, old, now + 2 * HOUR) == "key_expired"
    assert directory.authenticate(new.secret, now + 2 * HOUR, CLIENT).prefix == new.info.prefix


def test_rotated_key_keeps_owner_name_and_cap(session: Session, acme: str) -> None:
    old = make_key(session, acme, name="ci", tier_cap="free")

    new = rotate_key(session, prefix(old), actor=ACTOR, old_valid_until=utcnow())

    assert KEY_FORMAT.match(new.secret)
    assert new.info.prefix != prefix(old)
    assert (new.info.organisation, new.info.name, new.info.tier_cap, new.info.rotated_from) == (
        "acme", "ci", "free", prefix(old))


def test_rotation_without_overlap_ends_the_old_key_now(app: Flask, client: FlaskClient,
                                                       session: Session, acme: str) -> None:
    old = make_key(session, acme)

    new = rotate_key(session, prefix(old), actor=ACTOR, old_valid_until=utcnow())
    runtime(app)

    assert check(client, old) == (401, "key_expired")
    assert check(client, new.secret) == (200, "granted_by_tier")


def test_rotation_does_not_extend_an_earlier_expiry(session: Session, acme: str) -> None:
    expires = utcnow() + timedelta(minutes=10)
    old = make_key(session, acme, expires_at=expires)

    rotate_key(session, prefix(old), actor=ACTOR, old_valid_until=utcnow() + timedelta(hours=5))

    assert get_key(session, prefix(old)).expires_at == expires


def test_revoked_key_cannot_be_rotated(session: Session, acme: str) -> None:
    old = make_key(session, acme)
    revoke_key(session, prefix(old), actor=ACTOR)

    with pytest.raises(Conflict) as refused:
        rotate_key(session, prefix(old), actor=ACTOR, old_valid_until=utcnow())

    assert refused.value.code == "key_not_active"
    assert len(list_keys(session, "acme")) == 1


def test_overlap_ending_in_the_past_is_refused(session: Session, acme: str) -> None:
    old = make_key(session, acme)

    with pytest.raises(InvalidInput) as refused:
        rotate_key(session, prefix(old), actor=ACTOR,
                   old_valid_until=utcnow() - timedelta(hours=1))

    assert refused.value.code == "invalid_time"
    assert len(list_keys(session, "acme")) == 1


# -- last used -------------------------------------------------------------------------------------
def test_last_used_is_written_by_flush_not_per_request(app: Flask, client: FlaskClient,
                                                       session: Session, acme: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the runtime's own periodic flush must not run during this test
    monkeypatch.setattr("govern.decisions.runtime.LAST_USED_FLUSH_SECONDS", 1e9)
    key = make_key(session, acme)

    for _ in range(3):
        assert check(client, key) == (200, "granted_by_tier")
    assert get_key(committed(session), prefix(key)).last_used_at is None

    assert runtime(app).keys.flush_last_used() == 1

    assert get_key(committed(session), prefix(key)).last_used_at is not None


def test_flush_stores_the_latest_use_of_each_key(session: Session, acme: str) -> None:
    first, second = make_key(session, acme), make_key(session, acme)
    directory = KeyDirectory(db.engine)
    directory.authenticate(first, 1_900_000_000.0, CLIENT)
    directory.authenticate(first, 1_900_000_500.0, CLIENT)
    directory.authenticate(second, 1_900_000_100.0, CLIENT)

    assert directory.flush_last_used() == 2
    assert directory.flush_last_used() == 0  # nothing new since

    committed(session)
    assert get_key(session, prefix(first)).last_used_at == datetime.fromtimestamp(1_900_000_500, UTC)
    assert get_key(session, prefix(second)).last_used_at == datetime.fromtimestamp(1_900_000_100, UTC)


# -- organisations and tier caps -------------------------------------------------------------------
def test_organisation_with_keys_cannot_be_deleted(session: Session, acme: str) -> None:
    key = make_key(session, acme)
    revoke_key(session, prefix(key), actor=ACTOR)  # revoked keys still count: they are the record

    with pytest.raises(Conflict) as refused:
        delete_org(session, "acme", actor=ACTOR)

    assert refused.value.code == "org_has_keys"
    assert [org.name for org in list_orgs(committed(session))] == ["acme"]


def test_organisation_without_keys_can_be_deleted(session: Session, acme: str) -> None:
    delete_org(session, "acme", actor=ACTOR)

    assert list_orgs(session) == []


def test_tier_cap_naming_an_unknown_tier_is_refused(session: Session, acme: str) -> None:
    keys_before = session.execute(select(func.count()).select_from(ApiKey)).scalar_one()

    with pytest.raises(InvalidInput) as refused:
        issue_key(session, actor=ACTOR, org="acme", tier_cap="gold")

    assert refused.value.code == "unknown_tier"
    assert refused.value.message == "unknown tier 'gold'; tiers are free, verified, trusted, internal"
    keys_after = committed(session).execute(select(func.count()).select_from(ApiKey)).scalar_one()
    assert keys_after == keys_before


def test_changing_a_cap_to_an_unknown_tier_is_refused(session: Session, acme: str) -> None:
    key = make_key(session, acme, tier_cap="free")

    with pytest.raises(InvalidInput) as refused:
        update_key(session, prefix(key), actor=ACTOR, tier_cap="gold")

    assert refused.value.code == "unknown_tier"
    assert get_key(committed(session), prefix(key)).tier_cap == "free"


# -- audit -----------------------------------------------------------------------------------------
def test_issue_revoke_and_rotate_are_audited(session: Session, acme: str) -> None:
    key = make_key(session, acme)
    rotated = rotate_key(session, prefix(key), actor=ACTOR, old_valid_until=utcnow())
    revoke_key(session, rotated.info.prefix, actor=ACTOR)

    events = session.execute(
        select(AuditEvent.action, AuditEvent.target).where(AuditEvent.action.like("key.%"))
        .order_by(AuditEvent.id)).all()

    assert [tuple(e) for e in events] == [
        ("key.issue", f"key:{prefix(key)}"),
        ("key.issue", f"key:{rotated.info.prefix}"),
        ("key.rotate", f"key:{prefix(key)}"),
        ("key.revoke", f"key:{rotated.info.prefix}"),
    ]
