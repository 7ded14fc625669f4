"""Key rotation between running nodes, the node document, and checkpoints that find disagreements."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from protocol import Envelope, KeyInfo, Keyring, PublicKey, check_chain, keys_before, parse_json, parse_time
from tests.pg import node_sql

from .conftest import FAST, check_books, peer_both, peer_state, wait_until
from .forge import Forger, chain_in, node_key, now_utc

pytestmark = pytest.mark.slow


def _peer_keys(node, peer_id: str) -> list[tuple]:
    return node_sql(
        node.data_dir, "select kid, public, not_before, not_after from fed_peer_keys where peer_id=?", (peer_id,)
    )


def test_node_document_is_self_signed_and_lists_keys(pair):
    a, _ = pair
    raw = requests.get(f"{a.url}/.well-known/sifnet-node", timeout=10).content
    env = Envelope.from_dict(parse_json(raw))
    assert env.type == "node_document" and env.from_ == "be-vl" and env.to == "*"
    assert env.body["base_url"] == a.url and env.body["endpoints"]["inbox"] == a.url + "/federation/v1/inbox"
    assert env.sig.kid == node_key(a.data_dir).key_id


def test_key_rotation_keeps_old_entries_verifiable(node_process):
    a = node_process("be-vl", **FAST)
    b = node_process("hu", **FAST, key_grace_hours=1)
    peer_both(a, b)
    anna, zoltan = a.new_member("anna"), b.new_member("zoltan")
    old_key = node_key(b.data_dir)
    assert zoltan.transfer("anna@be-vl", 1).status_code == 201
    wait_until(lambda: anna.balance() == 11, what="payment signed with the old key")
    out = b.cli("rotate-key").stdout
    new_key = node_key(b.data_dir)
    assert new_key.key_id != old_key.key_id and new_key.key_id in out
    # The running node picks the new key up; be-vl learns it from the rotation entry signed with the old one.
    wait_until(lambda: len(_peer_keys(a, "hu")) == 2, timeout=30, what="be-vl learned the new key")
    assert zoltan.transfer("anna@be-vl", 2).status_code == 201
    wait_until(lambda: anna.balance() == 13, timeout=30, what="payment signed with the new key")
    keys = {kid: (pub, nb, na) for kid, pub, nb, na in _peer_keys(a, "hu")}
    assert keys[old_key.key_id][2] is not None and keys[new_key.key_id][2] is None
    # Every stored entry still verifies end to end with the keys be-vl holds.
    infos = [
        KeyInfo("hu", PublicKey.from_b64(pub), parse_time(_z(nb)) if nb else None, parse_time(_z(na)) if na else None)
        for pub, nb, na in keys.values()
    ]
    entries = [Envelope.from_dict(parse_json(env.encode())) for _, _, env in chain_in(a.data_dir / "node.db", "hu")]
    report = check_chain(entries, sender="hu", receiver="be-vl", keyring=keys_before(entries, Keyring.of(*infos)))
    assert [e.sig.kid for e in entries].count(old_key.key_id) >= 2  # the payment and the rotation itself
    assert report is not None and entries[-1].sig.kid == new_key.key_id
    # A message signed with the old key after its end date is refused.
    a.client().http.post(f"{a.url}/_test/clock", json={"advance_seconds": 2 * 3600})
    seq, last = chain_in(a.data_dir / "node.db", "hu")[-1][:2]
    forger = Forger(new_key, "hu", "be-vl", a.url)
    late = forger.transfer(seq + 1, last, "anna", 1, key=old_key, created=now_utc() + timedelta(hours=2))
    response = forger.post([late], created=now_utc() + timedelta(hours=2))
    assert response.status_code == 401 and response.json()["error"]["code"] == "key_expired", response.text
    assert anna.balance() == 13
    check_books(a)
    check_books(b)


def _z(text: str | datetime) -> str:
    """SQLite stores '2026-01-01 10:00:00.000000' for aware UTC (PostgreSQL gives a datetime); RFC 3339 + Z wanted."""
    if isinstance(text, datetime):
        return text.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text.replace(" ", "T").split(".")[0].split("+")[0] + "Z"


def test_checkpoints_agree_then_a_tampered_position_opens_a_dispute(pair):
    a, b = pair
    anna, _zoltan = a.new_member("anna"), b.new_member("zoltan")
    assert anna.transfer("zoltan@hu", 3).status_code == 201
    wait_until(
        lambda: peer_state(a, "hu")["entries_pending"] == 0 and peer_state(b, "be-vl")["entries_pending"] == 0,
        what="quiet channels",
    )
    result = a.coordinator().call("POST", "/federation/peers/hu/checkpoint", expect=200).json()
    assert result == {"agrees": True, "problems": []}
    # Someone edits hu's books behind the ledger's back: the next checkpoint must say so, on both sides.
    b.stop()
    node_sql(b.data_dir, "update accounts set balance = balance + 1 where ref = 'position:be-vl'", write=True)
    b.start()
    result = a.coordinator().call("POST", "/federation/peers/hu/checkpoint", expect=200).json()
    assert not result["agrees"] and "positions do not mirror" in result["problems"][0]
    for node in (a, b):
        disputes = node.coordinator().call("GET", "/federation/disputes", expect=200).json()["disputes"]
        assert [d["kind"] for d in disputes if d["status"] == "open"] == ["position_mismatch"]
    dispute_id = a.coordinator().call("GET", "/federation/disputes").json()["disputes"][0]["id"]
    r = a.coordinator().call("POST", f"/federation/disputes/{dispute_id}/resolve", {"resolution": ""})
    assert r.status_code == 422 and r.json()["error"]["code"] == "missing_field"
    a.coordinator().call(
        "POST",
        f"/federation/disputes/{dispute_id}/resolve",
        {"resolution": "hu restored its position account from backup"},
        expect=200,
    )
