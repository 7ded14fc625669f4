"""Key rotation along a chain: proof of possession, claimed keys, retired keys, and re-checking a stored chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protocol import (
    ChainError,
    ChannelRef,
    KeyInfo,
    Keyring,
    SigningKey,
    check_chain,
    entry_hash,
    format_time,
    genesis_hash,
    keys_before,
    make_envelope,
    sign_envelope,
    sign_key_proof,
)

T0 = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
OLD, NEW, OTHER = (SigningKey.from_seed(bytes([n]) * 32) for n in (1, 2, 3))


def chain(*items):
    """Entries of the channel be-vl -> hu: (type, body, key) each, one minute apart."""
    out, prev = [], genesis_hash("be-vl", "hu")
    for i, (type_name, body, key) in enumerate(items):
        env = make_envelope(
            type=type_name,
            from_="be-vl",
            to="hu",
            created=T0 + timedelta(minutes=i),
            body=body,
            id=f"e{i}",
            channel=ChannelRef(i + 1, prev),
        )
        env = sign_envelope(env, key)
        out.append(env)
        prev = entry_hash(env)
    return out


def rotation(new=NEW, old=OLD, *, node="be-vl", proof_key=None, old_not_after=T0 + timedelta(days=7)):
    return {
        "new_kid": new.key_id,
        "new_public": new.public_key.b64,
        "old_kid": old.key_id,
        "old_not_after": format_time(old_not_after),
        "new_key_proof": sign_key_proof(proof_key or new, node, old.key_id),
    }


PAY = {"transfer_id": "t-1", "payer": "anna", "payee": "bela", "amount": 2}
KEYRING = Keyring.of(KeyInfo("be-vl", OLD.public_key), KeyInfo("nl", OTHER.public_key))


def check(entries, keyring=KEYRING, **kw):
    return check_chain(entries, sender="be-vl", receiver="hu", keyring=keyring, **kw)


def refusal(entries, **kw) -> tuple[str, int | None]:
    with pytest.raises(ChainError) as info:
        check(entries, **kw)
    return info.value.code, info.value.seq


def test_a_rotation_is_learned_and_later_entries_use_the_new_key():
    report = check(chain(("transfer", PAY, OLD), ("key_rotation", rotation(), OLD), ("transfer", PAY, NEW)))
    assert report.keyring[NEW.key_id].node_id == "be-vl" and report.retired == {OLD.key_id}
    assert report.keyring[OLD.key_id].not_after == T0 + timedelta(days=7)


@pytest.mark.parametrize(
    ("body", "key", "code"),
    [
        (rotation(new=OTHER), OLD, "key_claimed"),  # nl's key
        (rotation(new=OLD, old=OLD), OLD, "bad_rotation"),
        (rotation(proof_key=OTHER), OLD, "bad_key_proof"),  # signed by another key
        (rotation(node="nl"), OLD, "bad_key_proof"),  # a proof made for another node
        (rotation(old_not_after=T0), OLD, "bad_rotation"),
    ],
    ids=["another-nodes-key", "same-key", "proof-by-other-key", "proof-for-other-node", "retires-before-created"],
)
def test_a_rotation_that_cannot_take_effect_is_refused(body, key, code):
    assert refusal(chain(("key_rotation", body, key))) == (code, 1)


def test_a_rotation_must_be_signed_by_the_key_it_retires():
    keyring = Keyring.of(*KEYRING.values(), KeyInfo("be-vl", NEW.public_key))
    third = SigningKey.from_seed(b"\x04" * 32)
    assert refusal(chain(("key_rotation", rotation(new=third, old=OLD), NEW)), keyring=keyring) == ("bad_rotation", 1)


def test_no_entry_signed_by_a_retired_key_follows_its_rotation():
    entries = chain(("key_rotation", rotation(), OLD), ("transfer", PAY, OLD))
    assert refusal(entries) == ("key_retired", 2)
    assert refusal(entries[1:], after_seq=1, after_hash=entry_hash(entries[0]), retired=frozenset({OLD.key_id})) == (
        "key_retired",
        2,
    )


def test_a_stored_chain_checks_again_from_the_keys_before_it():
    entries = chain(("key_rotation", rotation(), OLD), ("transfer", PAY, NEW))
    after = check(entries).keyring
    assert refusal(entries, keyring=after) == ("key_claimed", 1)  # its rotations are already in the final keyring
    assert check(entries, keyring=keys_before(entries, after)).last_seq == 2
