"""A participant's checks in one node, in-process: statements, proposals, certificates, checkpoints."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

import pytest

from federation.settlement import participant as settlement
from federation.transport.checkpoints import compare, position_of
from federation.transport.peers import position_account, set_trust_limit
from federation.transport.refusal import Refusal
from federation.settlement.coordinator import plan_round
from federation.tables import Dispute, Peer, PeerKey, SettledPair, SettlementPart
from node.services import ledger
from protocol import Envelope, SigningKey, envelope_hash, format_time, make_envelope, sign_envelope
from tests.conftest import START

KEYS = {n: SigningKey.from_seed(hashlib.sha256(n.encode()).digest()) for n in ("nl", "hu", "at", "it")}
BEFORE = [
    {"debtor": "be-vl", "creditor": "nl", "amount": 5},
    {"debtor": "hu", "creditor": "be-vl", "amount": 4},
    {"debtor": "nl", "creditor": "hu", "amount": 3},
]
AFTER = [{"debtor": "be-vl", "creditor": "nl", "amount": 1}, {"debtor": "hu", "creditor": "nl", "amount": 1}]


@pytest.fixture
def node(app, ctx, clock):
    """be-vl with peers nl, hu (positions: owes nl 5, hu owes it 4) and at; trust limit 100 each."""
    fed = app.extensions["sifnet_federation"]
    with ctx.db.write() as s:
        for peer_id in ("nl", "hu", "at"):
            key = KEYS[peer_id]
            s.add(
                Peer(
                    node_id=peer_id,
                    base_url=f"http://{peer_id}.invalid",
                    fingerprint=key.public_key.fingerprint,
                    status="active",
                    created_at=clock.now(),
                )
            )
            s.flush()
            s.add(PeerKey(kid=key.key_id, peer_id=peer_id, public=key.public_key.b64))
            set_trust_limit(s, node_id=peer_id, limit=100, now=clock.now())
        for peer_id, balance in (("nl", 5), ("hu", -4)):
            ledger.post(
                s,
                kind="test",
                memo="",
                now=clock.now(),
                check_limits=False,
                legs=[
                    ledger.Leg(position_account(s, peer_id, clock.now()), balance),
                    ledger.Leg(ledger.issuance_account(s, clock.now()), -balance),
                ],
            )
    return fed


def balances(ctx) -> dict[str, int]:
    with ctx.db.read() as s:
        return {p: position_of(s, p) for p in ("nl", "hu", "at")}


def signed(type_name: str, sender: str, to: str, body: dict, created=None, key=None):
    env = make_envelope(type=type_name, from_=sender, to=to, created=created or at(), body=body, id=uuid.uuid4().hex)
    return sign_envelope(env, key or KEYS[sender])


def at(seconds: int = 0):
    return START + timedelta(seconds=seconds)


def proposal(
    round_id="r1", before=BEFORE, after=AFTER, cleared=None, deadline=600, participants=None, sender="nl", **kw
):
    body = {
        "round_id": round_id,
        "participants": participants or ["be-vl", "hu", "nl"],
        "deadline": format_time(at(deadline)),
        "before": before,
        "after": after,
        "cleared": cleared
        if cleared is not None
        else sum(d["amount"] for d in before) - sum(d["amount"] for d in after),
    }
    return signed("settlement_proposal", sender, "*", body, **kw)


def acceptance(sender: str, prop, accept=True, **kw):
    body = {"round_id": prop.body["round_id"], "proposal_hash": envelope_hash(prop), "accept": accept}
    return signed("settlement_acceptance", sender, "nl", body, **kw)


def certificate(prop, acceptances, sender="nl"):
    body = {
        "round_id": prop.body["round_id"],
        "proposal": prop.to_dict(),
        "acceptances": [a.to_dict() for a in acceptances],
    }
    return signed("settlement_certificate", sender, "*", body)


def test_the_statement_lists_active_undisputed_peers_as_the_spec_signs_them(node, ctx, clock):
    with ctx.db.write() as s:
        s.add(Dispute(peer_id="at", kind="chain_mismatch", detail="x", opened_at=clock.now()))
        set_trust_limit(s, node_id="hu", limit=7, now=clock.now())
    env = settlement.give_statement(node, "nl", "r1")
    assert (env.type, env.from_, env.to) == ("position_statement", "be-vl", "nl")
    assert env.body == {
        "round_id": "r1",
        "positions": [
            {"peer": "hu", "position": 4, "as_of_seq_sent": 0, "as_of_seq_received": 0, "trust_limit": 7},
            {"peer": "nl", "position": -5, "as_of_seq_sent": 0, "as_of_seq_received": 0, "trust_limit": 100},
        ],
    }
    again = settlement.give_statement(node, "nl", "r1")  # asked again: stated afresh, as of now
    assert again.id != env.id and again.body == env.body
    settlement.answer_proposal(node, "nl", proposal())
    assert settlement.give_statement(node, "nl", "r1") == again  # answered: the statement it was checked against
    with pytest.raises(Refusal) as info:
        settlement.give_statement(node, "hu", "r1")
    assert info.value.code == "round_id_taken"


def test_an_accepted_proposal_is_applied_once_with_the_certificate(node, ctx):
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    assert ours.body == {"round_id": "r1", "proposal_hash": envelope_hash(prop), "accept": True}
    assert settlement.answer_proposal(node, "nl", prop) == ours  # asked again: the same answer
    cert = certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)])
    assert balances(ctx) == {"nl": 5, "hu": -4, "at": 0}
    out = settlement.apply_certificate(node, "nl", cert)
    assert out == {"status": "applied", "round_id": "r1", "changes": {"hu": 4, "nl": -4}}
    assert balances(ctx) == {"nl": 1, "hu": 0, "at": 0}
    assert settlement.apply_certificate(
        node, "nl", certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)])
    ) == {"status": "already_applied", "round_id": "r1"}
    assert balances(ctx) == {"nl": 1, "hu": 0, "at": 0}
    with ctx.db.read() as s:
        assert ledger.check_books(s).ok
        assert {p.peer_id: (p.settled, p.settlements) for p in s.query(SettledPair)} == {"nl": (-4, 1), "hu": (4, 1)}
        assert s.get(SettlementPart, "r1").state == "applied"


def _refusal(node, prop) -> str:
    settlement.give_statement(node, "nl", prop.body["round_id"])
    answer = settlement.answer_proposal(node, "nl", prop)
    assert answer.body["accept"] is False
    return answer.body["reason"]


@pytest.mark.parametrize(
    "changes, reason",
    [
        ({"before": BEFORE[:1] + [{"debtor": "hu", "creditor": "be-vl", "amount": 5}]}, "before_mismatch: with hu"),
        (
            {"after": [{"debtor": "be-vl", "creditor": "nl", "amount": 2}]},
            "net_changed: our net would go from -1 to -2",
        ),
        (
            {
                "before": BEFORE + [{"debtor": "nl", "creditor": "hu", "amount": 500}],
                "after": [
                    {"debtor": "hu", "creditor": "be-vl", "amount": 150},
                    {"debtor": "be-vl", "creditor": "nl", "amount": 151},
                ],
            },
            "trust_limit: hu would owe us 150, over our trust limit of 100",
        ),
        ({"after": [{"debtor": "be-vl", "creditor": "it", "amount": 1}]}, "before_mismatch: with it"),
        ({"cleared": 3}, "bad_totals"),
        ({"deadline": -1}, "deadline_passed"),
        ({"deadline": 86401}, "deadline_too_far"),
    ],
)
def test_a_proposal_that_breaks_our_books_is_refused_with_a_reason(node, ctx, changes, reason):
    assert _refusal(node, proposal(**changes)).startswith(reason)
    with ctx.db.read() as s:
        assert s.get(SettlementPart, "r1").state == "refused"
    assert balances(ctx) == {"nl": 5, "hu": -4, "at": 0}


def test_a_peer_suspended_since_the_statement_cannot_be_owed_more(node, ctx, clock):
    settlement.give_statement(node, "nl", "r1")
    with ctx.db.write() as s:
        s.get(Peer, "hu").status = "suspended"
    answer = settlement.answer_proposal(
        node,
        "nl",
        proposal(
            after=[
                {"debtor": "hu", "creditor": "be-vl", "amount": 1},
                {"debtor": "be-vl", "creditor": "nl", "amount": 2},
            ]
        ),
    )
    assert answer.body["reason"].startswith("not_peered: hu")


def test_one_round_at_a_time(node, ctx, clock):
    settlement.give_statement(node, "hu", "r2")
    settlement.give_statement(node, "at", "r4")
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    # Accepted and waiting for the certificate: another coordinator's round is refused...
    with pytest.raises(Refusal) as info:
        settlement.give_statement(node, "hu", "r5")
    assert info.value.code == "round_in_progress"
    assert (
        settlement.answer_proposal(node, "at", proposal("r4", sender="at"))
        .body["reason"]
        .startswith("round_in_progress: we accepted round r1")
    )
    # ...and a statement given before a settlement was applied no longer holds.
    settlement.apply_certificate(node, "nl", certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)]))
    assert (
        settlement.answer_proposal(node, "hu", proposal("r2", sender="hu"))
        .body["reason"]
        .startswith("positions_changed")
    )


def test_the_same_coordinator_starting_a_new_round_ends_the_old_one(node, ctx):
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    settlement.give_statement(node, "nl", "r2")
    with ctx.db.read() as s:
        assert s.get(SettlementPart, "r1").state == "lapsed"
    assert balances(ctx) == {"nl": 5, "hu": -4, "at": 0}
    # Its certificate coming at last is still applied, once (the others applied it), and r2's statement no longer holds.
    cert = certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)])
    assert settlement.apply_certificate(node, "nl", cert)["status"] == "applied"
    assert settlement.apply_certificate(node, "nl", cert)["status"] == "already_applied"
    assert balances(ctx) == {"nl": 1, "hu": 0, "at": 0}
    assert settlement.answer_proposal(node, "nl", proposal("r2")).body["reason"].startswith("positions_changed")


def test_without_a_certificate_an_accepted_round_lapses_after_the_apply_window(node, ctx, clock):
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    clock.advance(600 + ctx.settings.settlement_apply_seconds + 1)
    with ctx.db.write() as s:
        assert settlement.lapse_overdue(s, node, clock.now()) == 1
    settlement.give_statement(node, "hu", "r2")  # free for another round now
    # A late certificate (the round was undelivered) heals the pairs: applied once, as the others did.
    cert = certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)])
    assert settlement.apply_certificate(node, "nl", cert)["status"] == "applied"
    assert balances(ctx) == {"nl": 1, "hu": 0, "at": 0}


def _other_key_acceptance(prop):
    forged = acceptance("hu", prop, key=KEYS["it"]).to_dict()
    forged["sig"]["kid"] = KEYS["hu"].key_id
    return Envelope.from_dict(forged)


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda prop, ours: [ours, acceptance("hu", prop)], "certificate_incomplete"),
        (
            lambda prop, ours: [ours, acceptance("hu", prop, accept=False), acceptance("nl", prop)],
            "certificate_incomplete",
        ),
        (lambda prop, ours: [ours, _other_key_acceptance(prop), acceptance("nl", prop)], "certificate_forged"),
        (
            lambda prop, ours: [ours, acceptance("hu", prop, created=at(601)), acceptance("nl", prop)],
            "certificate_late",
        ),
        (lambda prop, ours: [ours, ours, acceptance("hu", prop), acceptance("nl", prop)], "certificate_mismatch"),
        (
            lambda prop, ours: [ours, acceptance("hu", proposal(cleared=10, deadline=601)), acceptance("nl", prop)],
            "certificate_mismatch",
        ),
    ],
)
def test_a_forged_or_incomplete_certificate_is_refused_with_its_code(node, ctx, make, code):
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    with pytest.raises(Refusal) as info:
        settlement.apply_certificate(node, "nl", certificate(prop, make(prop, ours)))
    assert info.value.code == code
    assert balances(ctx) == {"nl": 5, "hu": -4, "at": 0}
    with ctx.db.read() as s:
        assert s.get(SettlementPart, "r1").state == "accepted"


def test_a_certificate_for_another_proposal_or_of_our_forged_acceptance_is_refused(node, ctx):
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    other = proposal(deadline=601)
    others = [acceptance(n, other) for n in ("hu", "nl")]
    fake_ours = signed("settlement_acceptance", "be-vl", "nl", ours.body, key=KEYS["it"])
    for cert, code in (
        (certificate(other, [ours, *others]), "certificate_mismatch"),
        (certificate(prop, [fake_ours, acceptance("hu", prop), acceptance("nl", prop)]), "certificate_forged"),
        (certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)], sender="hu"), "round_unknown"),
    ):
        with pytest.raises(Refusal) as info:
            settlement.apply_certificate(node, cert.from_, cert)
        assert info.value.code == code
    tampered = certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)]).to_dict()
    tampered["body"]["proposal"]["body"]["after"][0]["amount"] = 2
    with pytest.raises(Refusal) as info:
        settlement.apply_certificate(node, "nl", Envelope.from_dict(tampered))
    assert info.value.code == "certificate_forged"


def test_plan_keeps_only_pairs_both_sides_state_alike():
    def stated(*entries):
        return {
            "round_id": "r",
            "positions": [
                dict(zip(("peer", "position", "as_of_seq_sent", "as_of_seq_received", "trust_limit"), e))
                for e in entries
            ],
        }

    statements = {
        "a": stated(("b", 5, 3, 2, 10), ("c", -2, 1, 1, 0), ("d", 1, 0, 0, 0)),
        "b": stated(("a", -5, 2, 3, 20), ("c", 4, 0, 0, 0)),
        "c": stated(("a", 2, 1, 2, 0), ("b", -3, 0, 0, 0)),
        "d": stated(),
    }
    debts, peered, limits, excluded = plan_round(["a", "b", "c", "d"], statements)
    assert debts == [("b", "a", 5)] and peered == [("a", "b")] and limits == {("b", "a"): 10, ("a", "b"): 20}
    assert [(x["pair"], x["kind"]) for x in excluded] == [
        (["a", "c"], "in_flight"),
        (["a", "d"], "missing"),
        (["b", "c"], "mismatch"),
    ]


@pytest.mark.parametrize(
    "theirs, ours, problem",
    [
        ({"position": -3, "settled": 0, "settlements": 0}, (0, 0), None),
        ({"position": -4, "settled": 0, "settlements": 0}, (0, 0), "positions do not mirror: ours 3, theirs -4"),
        ({"position": 0, "settled": 3, "settlements": 1}, (0, 0), None),  # they applied a settlement, we not yet
        ({"position": -3, "settled": 0, "settlements": 0}, (3, 1), None),  # we applied it, they not yet
        ({"position": 0, "settled": 3, "settlements": 1}, (3, 1), None),  # both applied it
        ({"position": 0, "settled": 3, "settlements": 1}, (2, 1), "positions do not mirror after 1 settlements"),
        ({"position": -1, "settled": 3, "settlements": 1}, (0, 0), "positions do not mirror: ours 3, theirs -1"),
    ],
)
def test_checkpoints_compare_what_channels_moved_and_settlements_once_both_applied(
    node, ctx, clock, theirs, ours, problem
):
    with ctx.db.write() as s:  # our position towards hu: -3 moved by the channels, plus what settlements moved
        ledger.post(
            s,
            kind="test",
            memo="",
            now=clock.now(),
            check_limits=False,
            legs=[
                ledger.Leg(position_account(s, "hu", clock.now()), 1 + ours[0]),
                ledger.Leg(ledger.issuance_account(s, clock.now()), -1 - ours[0]),
            ],
        )
        if ours[1]:
            s.add(SettledPair(peer_id="hu", settled=ours[0], settlements=ours[1]))
        s.flush()
        point = {"seq": 0, "hash": "A" * 43}
        found = compare(s, node, "hu", {"sent": point, "received": point, **theirs})
    if problem is None:
        assert found == []
    else:
        assert len(found) == 1 and found[0].startswith(problem), found


def test_the_directory_key_is_pinned_only_for_the_chosen_directory_with_its_fingerprint(node, ctx, clock, monkeypatch):
    from federation.transport.peers import PeerDocument
    from node.errors import ValidationError

    key = SigningKey.from_seed(hashlib.sha256(b"eu-dir").digest())
    doc = PeerDocument(
        node_id="eu-dir",
        name="directory",
        country="EU",
        base_url="http://eu-dir.invalid",
        keys=({"kid": key.key_id, "public": key.public_key.b64},),
        current_kid=key.key_id,
        fingerprint=key.public_key.fingerprint,
        raw="{}",
    )
    with ctx.db.write() as s, pytest.raises(ValidationError) as info:
        settlement.pin_directory(s, node, doc, key.public_key.fingerprint, clock.now())
    assert info.value.code == "directory_not_chosen"
    monkeypatch.setattr(ctx, "settings", ctx.settings.replace(directory_id="eu-dir"))
    with ctx.db.write() as s, pytest.raises(ValidationError) as info:
        settlement.pin_directory(s, node, doc, KEYS["nl"].public_key.fingerprint, clock.now())
    assert info.value.code == "fingerprint_mismatch"
    with ctx.db.read() as s:
        assert settlement.directory_keys(s, node) == [] and "eu-dir" not in {
            k.node_id for k in settlement.node_keyring(s, node).values()
        }
    with ctx.db.write() as s:
        settlement.pin_directory(s, node, doc, key.public_key.fingerprint.lower(), clock.now())
    with ctx.db.read() as s:
        assert [k.kid for k in settlement.directory_keys(s, node)] == [key.key_id]
        assert "eu-dir" in {k.node_id for k in settlement.node_keyring(s, node).values()}
    # The directory's round is then answered like a peer's: a statement of our positions, signed for it.
    statement = settlement.give_statement(node, "eu-dir", "eu-dir-r1")
    assert statement.to == "eu-dir" and [p["peer"] for p in statement.body["positions"]] == ["at", "hu", "nl"]
