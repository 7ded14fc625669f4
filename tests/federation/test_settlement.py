"""Clearing rounds between real node processes: a cycle of cross-border debt is settled by one round."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
import requests

from protocol import Envelope, SigningKey, canonical_json, make_envelope, sign_envelope
from tests.procs import COORDINATOR_EMAIL, PASSWORD

from .conftest import FAST, check_books, peer_both, peer_state, wait_until
from .forge import Forger, node_key, now_utc, send

pytestmark = pytest.mark.slow
NODES = ("be-vl", "nl", "hu")
MESSAGES = "/federation/v1/settlement"


@pytest.fixture
def triangle(node_process):
    """be-vl, nl and hu, all peered (trust 100 each way), with a member each."""
    nodes = {n: node_process(n, **FAST) for n in NODES}
    for a, b in (("be-vl", "nl"), ("nl", "hu"), ("hu", "be-vl")):
        peer_both(nodes[a], nodes[b])
    members = {n: nodes[n].new_member(handle) for n, handle in zip(NODES, ("anna", "niels", "zoltan"))}
    return nodes, members


def pay_cycle(members, nodes, amounts=(5, 3, 4)) -> None:
    """anna@be-vl pays niels@nl, niels pays zoltan@hu, zoltan pays anna: each node owes the next."""
    for (payer, payee), amount in zip((("be-vl", "niels@nl"), ("nl", "zoltan@hu"), ("hu", "anna@be-vl")), amounts):
        assert members[payer].transfer(payee, amount).status_code == 201
    wait_quiet(nodes)


def wait_quiet(nodes) -> None:
    wait_until(
        lambda: all(peer_state(nodes[a], b)["entries_pending"] == 0 for a in nodes for b in nodes if a != b),
        timeout=30,
        what="every channel drained",
    )


def positions(nodes) -> dict[str, dict[str, int]]:
    """Each node's position account balances (positive: it owes that peer)."""
    return {
        n: {
            p["node_id"]: p["position"]
            for p in node.coordinator().call("GET", "/federation/peers", expect=200).json()["peers"]
        }
        for n, node in nodes.items()
    }


def nets(pos: dict) -> dict[str, int]:
    return {n: sum(p.values()) for n, p in pos.items()}


def assert_mirrored(pos: dict) -> None:
    for a in pos:
        for b in pos[a]:
            if b in pos:
                assert pos[a][b] + pos[b][a] == 0, (a, b, pos)


def assert_checkpoints_agree(nodes) -> None:
    for a, b in (("be-vl", "nl"), ("nl", "hu"), ("hu", "be-vl")):
        result = nodes[a].coordinator().call("POST", f"/federation/peers/{b}/checkpoint", expect=200).json()
        assert result == {"agrees": True, "problems": []}, (a, b, result)
    for node in nodes.values():
        disputes = node.coordinator().call("GET", "/federation/disputes", expect=200).json()["disputes"]
        assert [d for d in disputes if d["status"] == "open"] == []


def start_round(node, expect: int = 201, **body) -> dict:
    return node.coordinator().call("POST", "/federation/settlements", body, expect=expect).json()


def settlement(node, round_id: str) -> dict:
    return node.coordinator().call("GET", f"/federation/settlements/{round_id}", expect=200).json()


def test_one_round_clears_a_cycle_and_every_node_keeps_its_net(triangle):
    nodes, members = triangle
    pay_cycle(members, nodes)
    # nl lets be-vl owe it at most 5, all used up: a further payment to nl bounces.
    nodes["nl"].coordinator().call(
        "POST", "/federation/peers/be-vl/trust-limit", {"trust_limit": 5, "below_debt": True}, expect=200
    )
    assert members["be-vl"].transfer("niels@nl", 3).status_code == 201
    wait_until(lambda: _transfers(members["be-vl"])[0]["status"] == "bounced", what="bounce over the trust limit")
    wait_quiet(nodes)
    before = positions(nodes)
    assert before["be-vl"] == {"nl": 5, "hu": -4} and before["nl"] == {"be-vl": -5, "hu": 3}
    entry = start_round(nodes["be-vl"])
    assert entry["state"] == "settled", entry
    assert (entry["total_before"], entry["total_after"], entry["cleared"]) == (12, 2, 10)
    after = positions(nodes)
    assert nets(after) == nets(before) == {"be-vl": 1, "nl": -2, "hu": 1}
    # The cycle is gone and hu's remaining debt is re-routed to nl directly: 2 SIF owed in all.
    assert after == {"be-vl": {"nl": 1, "hu": 0}, "nl": {"be-vl": -1, "hu": -1}, "hu": {"be-vl": 0, "nl": 1}}
    assert_mirrored(after)
    assert_checkpoints_agree(nodes)
    for _name, node in nodes.items():
        seen = settlement(node, entry["round_id"])
        assert seen["participation"] == "applied" and seen["cleared"] == 10
        assert seen["certificate"]["type"] == "settlement_certificate"
        assert {s["result"] for s in seen["signatures"]} == {"verifies"} and len(seen["signatures"]) == 5
        check_books(node)
    assert settlement(nodes["nl"], entry["round_id"])["changes"] == {"be-vl": 4, "hu": -4}
    # The coordinator's audit trail keeps who started the round and how it ended; each participant, the apply.
    subject = f"round:{entry['round_id']}"
    for name, node in nodes.items():
        lines = node.coordinator().call("GET", "/coordinator/audit", expect=200).json()["entries"]
        mine = [(e["action"], e["actor"]) for e in lines if e["subject"] == subject]
        started = [("clearing_settled", None), ("clearing_started", "coord")] if name == "be-vl" else []
        assert sorted(mine) == sorted([("clearing_applied", None), *started]), (name, mine)
    # Limits are checked against the positions after settlement: the room is back.
    assert members["be-vl"].transfer("niels@nl", 3).status_code == 201
    wait_until(lambda: _transfers(members["be-vl"])[0]["status"] == "completed", what="payment within the room")
    assert peer_state(nodes["nl"], "be-vl")["position"] == -4


def test_the_coordinator_sees_the_round_in_the_ui(triangle):
    nodes, members = triangle
    pay_cycle(members, nodes)
    web = web_login(nodes["hu"])
    page = web.get(f"{nodes['hu'].url}/coordinator/peers", timeout=30).text
    assert "/coordinator/settlements" in page
    page = web.get(f"{nodes['hu'].url}/coordinator/settlements", timeout=30).text
    form = {"csrf_token": _csrf(page), "action": "start", "participant": list(NODES)}
    done = web.post(f"{nodes['hu'].url}/coordinator/settlements", data=form, timeout=60)
    assert done.status_code == 200 and "settled, 10\u00a0SIF cleared" in done.text, done.text[-3000:]
    assert "Certificate by hu" in done.text and "the signature verifies" in done.text
    assert "does not verify" not in done.text
    # Each participant's coordinator sees it too, with its own position changes.
    page = web_login(nodes["nl"]).get(f"{nodes['nl'].url}/coordinator/settlements", timeout=30).text
    assert "Run by hu." in page and "This node&#39;s part: applied." in page.replace("'", "&#39;")


def web_login(node) -> requests.Session:
    web = requests.Session()
    page = web.get(f"{node.url}/login", timeout=30).text
    r = web.post(
        f"{node.url}/login",
        data={"email": COORDINATOR_EMAIL, "password": PASSWORD, "csrf_token": _csrf(page)},
        timeout=30,
    )
    assert r.status_code == 200, r.text[:500]
    return web


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_participant_down_abandons_the_round_and_the_next_succeeds(triangle):
    nodes, members = triangle
    pay_cycle(members, nodes)
    before = positions(nodes)
    nodes["hu"].stop()
    entry = start_round(nodes["be-vl"], deadline_seconds=30)
    assert entry["state"] == "collecting" and "hu: unreachable" in entry["reason"], entry
    nodes["be-vl"].advance_clock(40)  # past the deadline; the sweep abandons the round
    wait_until(lambda: settlement(nodes["be-vl"], entry["round_id"])["state"] == "abandoned", what="abandoned")
    assert "no answer from hu" in settlement(nodes["be-vl"], entry["round_id"])["reason"]
    nodes["hu"].start()
    assert positions(nodes) == before  # nothing applied anywhere
    assert settlement(nodes["nl"], entry["round_id"])["participation"] == "stated"
    out = nodes["be-vl"].cli("clearing-round", "--participants", "be-vl,nl,hu").stdout
    assert "settled; debt 12 before, 2 after, 10 cleared" in out, out
    after = positions(nodes)
    assert nets(after) == nets(before)
    assert_mirrored(after)
    assert_checkpoints_agree(nodes)
    for node in nodes.values():
        check_books(node)


def test_a_refusal_abandons_the_round_and_forged_certificates_are_refused(triangle):
    nodes, members = triangle
    pay_cycle(members, nodes)
    before = positions(nodes)
    preview = start_round(nodes["be-vl"], propose=False)
    assert preview["state"] == "computed" and preview["after"] == [
        {"debtor": "be-vl", "creditor": "nl", "amount": 1},
        {"debtor": "hu", "creditor": "nl", "amount": 1},
    ]
    # Meanwhile nl stops trusting hu: the proposal would have hu owe nl 1, so nl must refuse it.
    nodes["nl"].coordinator().call(
        "POST", "/federation/peers/hu/trust-limit", {"trust_limit": 0, "below_debt": True}, expect=200
    )
    round_id = preview["round_id"]
    entry = nodes["be-vl"].coordinator().call("POST", f"/federation/settlements/{round_id}/propose", expect=200).json()
    assert entry["state"] == "abandoned" and "refused by nl (trust_limit: hu would owe us 1" in entry["reason"]
    assert positions(nodes) == before
    # hu accepted and waits; a certificate without every acceptance, or with a forged one, is refused.
    record = settlement(nodes["be-vl"], round_id)
    assert settlement(nodes["hu"], round_id)["participation"] == "accepted"
    coordinator = Forger(node_key(nodes["be-vl"].data_dir), "be-vl", "hu", nodes["hu"].url)
    answers = record["answers"]
    assert answers["nl"]["body"]["accept"] is False
    cases = [
        ("certificate_incomplete", [answers["be-vl"], answers["hu"]]),  # nl's answer left out
        ("certificate_incomplete", [answers["be-vl"], answers["hu"], answers["nl"]]),  # nl's is a refusal
        ("certificate_forged", [answers["be-vl"], answers["hu"], _forged_acceptance(answers["nl"])]),
    ]
    for code, acceptances in cases:
        r = _send_certificate(coordinator, record["proposal"], acceptances)
        assert r.status_code in (403, 422) and r.json()["error"]["code"] == code, r.text
    assert positions(nodes) == before
    # The next round of the same coordinator releases hu, and settles what nl's limits allow.
    entry = start_round(nodes["be-vl"])
    assert entry["state"] == "settled" and entry["cleared"] == 9, entry
    assert settlement(nodes["hu"], round_id)["participation"] == "lapsed"
    after = positions(nodes)
    assert nets(after) == nets(before) and after["hu"]["nl"] == 0
    assert_mirrored(after)
    assert_checkpoints_agree(nodes)
    for node in nodes.values():
        check_books(node)


def _forged_acceptance(refusal: dict) -> dict:
    """nl's refusal turned into an acceptance, signed with a key that is not nl's."""
    body = {**refusal["body"], "accept": True}
    body.pop("reason", None)
    env = make_envelope(
        type="settlement_acceptance", from_="nl", to="be-vl", created=refusal["created"], body=body, id=uuid.uuid4().hex
    )
    forged = sign_envelope(env, SigningKey.from_seed(bytes(32))).to_dict()
    forged["sig"]["kid"] = refusal["sig"]["kid"]  # claim nl's key
    return forged


def _send_certificate(forger: Forger, proposal: dict, acceptances: list[dict]) -> requests.Response:
    body = {"round_id": proposal["body"]["round_id"], "proposal": proposal, "acceptances": acceptances}
    env = make_envelope(
        type="settlement_certificate", from_=forger.node_id, to="*", created=now_utc(), body=body, id=uuid.uuid4().hex
    )
    return post_direct(forger, sign_envelope(env, forger.key))


def post_direct(forger: Forger, env: Envelope | dict) -> requests.Response:
    """A signed request carrying one direct message, as the forger's node."""
    raw = env.to_dict() if isinstance(env, Envelope) else env
    return send(forger.request([], url=forger.target_url + MESSAGES, body=canonical_json(raw)))


def test_a_certificate_delivered_twice_is_applied_once(triangle):
    nodes, members = triangle
    pay_cycle(members, nodes)
    entry = start_round(nodes["nl"])
    assert entry["state"] == "settled"
    settled = positions(nodes)
    received = settlement(nodes["hu"], entry["round_id"])["certificate"]
    # The same envelope again (its answer lost) and the same certificate in a new envelope: both already applied.
    coordinator = Forger(node_key(nodes["nl"].data_dir), "nl", "hu", nodes["hu"].url)
    again = post_direct(coordinator, received)
    assert again.status_code == 200 and again.json() == {"status": "already_applied", "round_id": entry["round_id"]}
    body = received["body"]
    again = _send_certificate(coordinator, body["proposal"], body["acceptances"])
    assert again.status_code == 200 and again.json() == {"status": "already_applied", "round_id": entry["round_id"]}
    assert positions(nodes) == settled
    for node in nodes.values():
        check_books(node)


def test_payments_flowing_during_rounds_keep_positions_mirrored(node_process):
    nodes = {n: node_process(n, **{**FAST, "checkpoint_seconds": 1}) for n in NODES}
    for a, b in (("be-vl", "nl"), ("nl", "hu"), ("hu", "be-vl")):
        peer_both(nodes[a], nodes[b])
    members = {n: nodes[n].new_member(h) for n, h in zip(NODES, ("anna", "niels", "zoltan"))}
    pay_cycle(members, nodes)
    stop = threading.Event()
    payers = [
        threading.Thread(target=_keep_paying, args=(members[n].clone(), to, stop), daemon=True)
        for n, to in (("be-vl", "niels@nl"), ("nl", "zoltan@hu"), ("hu", "anna@be-vl"))
    ]
    for t in payers:
        t.start()
    # A pair with entries in flight at every try is left out of a round: rounds go on until two settle.
    outcomes = []
    for coordinator in ("be-vl", "nl", "hu") * 5:
        outcomes.append(start_round(nodes[coordinator], deadline_seconds=20)["state"])
        if outcomes.count("settled") == 2:
            break
    stop.set()
    for t in payers:
        t.join(30)
    wait_quiet(nodes)
    assert outcomes.count("settled") == 2 and set(outcomes) <= {"settled", "empty"}, outcomes
    assert all(t["status"] in ("completed", "bounced") for m in members.values() for t in _transfers(m))
    assert_mirrored(positions(nodes))
    assert_checkpoints_agree(nodes)
    for node in nodes.values():
        check_books(node)


def _keep_paying(client, to: str, stop: threading.Event) -> None:
    while not stop.is_set():
        client.transfer(to, 1)
        stop.wait(0.5)


def _transfers(client) -> list[dict]:
    return client.call("GET", "/me/cross-border", expect=200).json()["transfers"]
