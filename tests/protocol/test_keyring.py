"""Keyring: key id to node and validity interval."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from protocol import KeyInfo, Keyring, LocalProtocolError, key_infos_from_document

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 6, 1, tzinfo=UTC)


def test_keyring_maps_key_id_to_info(key_for) -> None:
    a, b = KeyInfo("be-vl", key_for("be-vl").public_key), KeyInfo("hu", key_for("hu").public_key)
    ring = Keyring.of(a, b, a)
    assert len(ring) == 2 and set(ring) == {a.key_id, b.key_id}
    assert ring.get(a.key_id) is a and ring[b.key_id] is b
    assert ring.get("ed25519:nope") is None
    assert Keyring.of(a, b) == Keyring.of(b, a) and hash(Keyring.of(a, b)) == hash(Keyring.of(b, a))
    assert len(Keyring()) == 0


def test_keyring_refuses_conflicting_entries(key_for) -> None:
    pub = key_for("be-vl").public_key
    with pytest.raises(LocalProtocolError) as info:
        Keyring.of(KeyInfo("be-vl", pub), KeyInfo("hu", pub))
    assert info.value.code == "duplicate_kid"


def test_validity_interval_is_half_open(key_for) -> None:
    info = KeyInfo("be-vl", key_for("be-vl").public_key, not_before=T1, not_after=T2)
    assert info.valid_at(T1) and not info.valid_at(T2)
    assert not info.valid_at(datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    ("not_before", "not_after", "code"),
    [(T2, T1, "bad_argument"), (T1, T1, "bad_argument"), (datetime(2026, 1, 1), None, "naive_datetime")],
)
def test_key_info_refuses_bad_intervals(key_for, not_before, not_after, code) -> None:
    with pytest.raises(LocalProtocolError) as info:
        KeyInfo("be-vl", key_for("be-vl").public_key, not_before, not_after)
    assert info.value.code == code


def test_key_infos_from_a_node_document(key_for) -> None:
    old, new = key_for("be-vl"), key_for("be-vl", generation=1)
    body = {
        "node_id": "be-vl",
        "keys": [
            {"kid": old.key_id, "public": old.public_key.b64, "not_after": "2026-06-01T00:00:00Z"},
            {"kid": new.key_id, "public": new.public_key.b64, "not_before": "2026-05-01T00:00:00Z"},
        ],
    }
    infos = key_infos_from_document(body)
    assert infos == (
        KeyInfo("be-vl", old.public_key, None, T2),
        KeyInfo("be-vl", new.public_key, datetime(2026, 5, 1, tzinfo=UTC), None),
    )
    assert len(Keyring.of(*infos)) == 2
