"""Channel hash chains: a break is pinpointed at the right entry, with the right code."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from protocol import (
    ChainError,
    ChannelRef,
    KeyInfo,
    Keyring,
    LocalProtocolError,
    canonical_json,
    check_chain,
    entry_hash,
    genesis_hash,
    make_envelope,
    sign_envelope,
)


@pytest.fixture(scope="module")
def chain(key_for) -> list:
    """Five signed entries of the channel be-vl -> hu."""
    entries, prev = [], genesis_hash("be-vl", "hu")
    for seq in range(1, 6):
        env = make_envelope(
            type="transfer",
            from_="be-vl",
            to="hu",
            created="2026-01-15T10:00:00Z",
            body={"transfer_id": f"t-{seq}", "payer": "anna", "payee": "bela", "amount": seq},
            id=f"e-{seq}",
            channel=ChannelRef(seq, prev),
        )
        env = sign_envelope(env, key_for("be-vl"))
        entries.append(env)
        prev = entry_hash(env)
    return entries


def _broken(chain, keyring, entries, **kwargs) -> ChainError:
    with pytest.raises(ChainError) as info:
        check_chain(entries, sender="be-vl", receiver="hu", keyring=keyring, **kwargs)
    return info.value


def _pinpoint(error: ChainError) -> tuple:
    return error.code, error.index, error.seq, error.where


def test_intact_chain(chain, keyring) -> None:
    report = check_chain(chain, sender="be-vl", receiver="hu", keyring=keyring)
    assert (report.count, report.first_seq, report.last_seq) == (5, 1, 5)
    assert report.hashes == tuple(entry_hash(e) for e in chain)
    assert report.last_hash == entry_hash(chain[-1])


def test_empty_input_reports_the_resume_point(keyring) -> None:
    report = check_chain([], sender="be-vl", receiver="hu", keyring=keyring)
    expected = (0, None, 0, genesis_hash("be-vl", "hu"))
    assert (report.count, report.first_seq, report.last_seq, report.last_hash) == expected


def test_resume_after_accepted_entries(chain, keyring) -> None:
    report = check_chain(
        chain[2:], sender="be-vl", receiver="hu", keyring=keyring, after_seq=2, after_hash=entry_hash(chain[1])
    )
    assert (report.first_seq, report.last_seq) == (3, 5)
    error = _broken(chain, keyring, chain[2:], after_seq=2, after_hash=entry_hash(chain[0]))
    assert _pinpoint(error) == ("prev_mismatch", 0, 3, "entry seq 3")
    with pytest.raises(LocalProtocolError):
        check_chain(chain[2:], sender="be-vl", receiver="hu", keyring=keyring, after_seq=2)


def test_tampered_entry_is_pinpointed(chain, keyring) -> None:
    tampered = dataclasses.replace(chain[2], body={**chain[2].body, "amount": 300})
    error = _broken(chain, keyring, [*chain[:2], tampered, *chain[3:]])
    assert _pinpoint(error) == ("bad_signature", 2, 3, "entry seq 3")
    assert error.status_hint == 401


def test_re_signed_tampered_entry_breaks_the_next_link(chain, keyring, key_for) -> None:
    tampered = sign_envelope(dataclasses.replace(chain[2], body={**chain[2].body, "amount": 300}), key_for("be-vl"))
    error = _broken(chain, keyring, [*chain[:2], tampered, *chain[3:]])
    assert _pinpoint(error) == ("prev_mismatch", 3, 4, "entry seq 4")


def test_dropped_entry_is_a_gap(chain, keyring) -> None:
    error = _broken(chain, keyring, [chain[0], *chain[2:]])
    assert _pinpoint(error) == ("seq_gap", 1, 3, "entry seq 3")


def test_dropped_first_entry_is_a_gap(chain, keyring) -> None:
    assert _pinpoint(_broken(chain, keyring, chain[1:])) == ("seq_gap", 0, 2, "entry seq 2")


def test_repeated_entry_is_a_duplicate(chain, keyring) -> None:
    error = _broken(chain, keyring, [*chain[:2], chain[1], *chain[2:]])
    assert _pinpoint(error) == ("seq_duplicate", 2, 2, "entry seq 2")


def test_swapped_entries(chain, keyring) -> None:
    error = _broken(chain, keyring, [*chain[:2], chain[3], chain[2], chain[4]])
    assert _pinpoint(error) == ("seq_gap", 2, 4, "entry seq 4")


def test_entry_without_channel(chain, keyring) -> None:
    error = _broken(chain, keyring, [*chain[:2], dataclasses.replace(chain[2], channel=None)])
    assert _pinpoint(error) == ("not_a_channel_entry", 2, None, "entry index 2")


def test_entry_of_another_direction_or_sender(chain, keyring, key_for) -> None:
    back = sign_envelope(dataclasses.replace(chain[0], from_="hu", to="be-vl"), key_for("hu"))
    assert _pinpoint(_broken(chain, keyring, [back])) == ("wrong_sender", 0, 1, "entry seq 1")
    elsewhere = sign_envelope(dataclasses.replace(chain[0], to="nl"), key_for("be-vl"))
    assert _pinpoint(_broken(chain, keyring, [elsewhere])) == ("wrong_receiver", 0, 1, "entry seq 1")


def test_signature_rules_apply_inside_the_chain(chain, keyring, key_for) -> None:
    forged = sign_envelope(chain[1], key_for("nl"))
    assert _pinpoint(_broken(chain, keyring, [chain[0], forged])) == ("key_not_of_sender", 1, 2, "entry seq 2")
    retired = Keyring.of(
        KeyInfo("be-vl", key_for("be-vl").public_key, not_after=datetime(2026, 1, 15, 10, 0, tzinfo=UTC))
    )
    assert _broken(chain, retired, chain).code == "key_expired"
    assert _broken(chain, Keyring.of(), chain).code == "unknown_key"


def test_no_acceptance_window_applies(chain, keyring) -> None:
    # check_chain takes no clock: an entry years old still verifies.
    assert check_chain(chain, sender="be-vl", receiver="hu", keyring=keyring).count == 5


def test_genesis_is_per_direction() -> None:
    assert genesis_hash("be-vl", "hu") != genesis_hash("hu", "be-vl")
    assert canonical_json({"channel": ["be-vl", "hu"], "genesis": True}) == b'{"channel":["be-vl","hu"],"genesis":true}'


def test_entry_form_is_checked_inside_the_chain(chain, keyring, key_for) -> None:
    bad_body = sign_envelope(dataclasses.replace(chain[1], body={**chain[1].body, "amount": 0}), key_for("be-vl"))
    error = _broken(chain, keyring, [chain[0], bad_body])
    assert _pinpoint(error) == ("amount_not_positive", 1, 2, "entry seq 2")
    assert "body.amount" in error.message
    unknown = sign_envelope(dataclasses.replace(chain[1], type="transfer_v9"), key_for("be-vl"))
    assert _broken(chain, keyring, [chain[0], unknown]).code == "unknown_type"
