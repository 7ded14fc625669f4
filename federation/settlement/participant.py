"""Taking part in clearing rounds: state positions, check a proposal against our books, apply a certificate once.

This is the participant's side; running a round is settlement_round.py. A participant:
1. answers a statement request with its signed positions towards its active, undisputed peers;
2. checks the round's proposal against its own books (its statement, its net, its trust
   limits) and answers with a signed acceptance, or a refusal with a reason;
3. applies a certificate that carries every participant's acceptance exactly once: one
   balanced ledger transaction on its position accounts (after - before per peer).
From its acceptance until the certificate comes or the apply window ends, it accepts no
other round, so two set-offs computed from the same positions are never both applied. A
certificate that comes after the window (the round was `undelivered`) is still applied once:
the others applied it, and until then the pairs' checkpoints show the divergence as a dispute.

The coordinator is an active peer or the network directory this node chose (settings
`directory_id`), whose key the node pinned (`pin_directory`); settlement_transport.py
authenticates either at the settlement endpoint.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func, select

from node.errors import ConflictError, ValidationError
from node.lifecycle import Timeout, lifecycle
from node.services import audit, ledger
from protocol import (
    Envelope,
    Keyring,
    ProtocolError,
    canonical_json,
    check_form,
    check_signature,
    envelope_hash,
    make_envelope,
    parse_json,
    parse_time,
    sign_envelope,
)

from .channels import chain_point
from .checkpoints import position_of
from .identity import new_envelope_id
from .peers import key_owner, network_keyring, normalise_fingerprint, position_account
from .refusal import Refusal
from .tables import DirectoryKey, Dispute, Peer, SettledPair, SettlementPart

# A lapsed participation still takes its certificate when it comes at last: the other participants
# applied it, so applying it (once) is what makes the pairs mirror again. An accepted round lapses
# when no certificate came within the apply window after its deadline (lapse_overdue).
PART = lifecycle(
    "round participation",
    "stated",
    field="state",
    table=SettlementPart,
    timeouts=(Timeout("accepted", "lapsed", at="deadline", grace="settlement_apply_seconds"),),
    stated="accepted refused",
    accepted="applied lapsed",
    refused="",
    applied="",
    lapsed="applied",
)
MAX_POSITIONS = 64
MAX_HORIZON = timedelta(days=1)


def stored(env: Envelope) -> str:
    """The verbatim text we keep of an envelope."""
    return canonical_json(env.to_dict()).decode()


def load(text: str) -> Envelope:
    return Envelope.from_dict(parse_json(text.encode()))


def signing_key(session, fed, to: str):
    """Sign for a peer with the key it knows (the old one until it applied our rotation)."""
    return fed.identity.current_key() if to == fed.node_id else fed.request_key_for(session, to)


def node_keyring(session, fed) -> Keyring:
    """Every key we can check a signature with: our peers', our own and the pinned keys of our directory."""
    return network_keyring(session, fed.node_id)


def directory_keys(session, fed) -> list[DirectoryKey]:
    """The pinned keys of the directory this node chose to be listed in (none when it chose none)."""
    directory_id = fed.ctx.settings.directory_id
    if not directory_id or session.get(Peer, directory_id) is not None:  # a peer's id is never a directory's
        return []
    return list(session.scalars(select(DirectoryKey).where(DirectoryKey.directory_id == directory_id)).all())


def pin_directory(
    session, fed, doc, fingerprint: object, now: datetime, actor_id: int | None = None
) -> list[DirectoryKey]:
    """Pin the keys of our directory's verified document, once our coordinator read its fingerprint back."""
    if doc.node_id != fed.ctx.settings.directory_id:
        raise ValidationError(
            _(
                "%(directory)s is not the directory this node chose. Set "
                'directory_id = "%(directory)s" in the node\'s settings first.',
                directory=doc.node_id,
            ),
            code="directory_not_chosen",
            field="url",
        )
    if not normalise_fingerprint(fingerprint) or normalise_fingerprint(fingerprint) != normalise_fingerprint(
        doc.fingerprint
    ):
        raise ValidationError(
            _("The fingerprint does not match the directory's key."), code="fingerprint_mismatch", field="fingerprint"
        )
    # Only the key that signed the document is proven to be the directory's; keys pinned before stay.
    owner = key_owner(session, doc.current_kid, fed.node_id)
    if owner not in (None, doc.node_id):
        raise ConflictError(
            _("The directory's key is already known here as a key of %(node)s.", node=owner), code="key_claimed"
        )
    key = next(k for k in doc.keys if k["kid"] == doc.current_kid)
    row = session.get(DirectoryKey, key["kid"]) or DirectoryKey(kid=key["kid"], pinned_at=now)
    row.directory_id, row.public, row.base_url = doc.node_id, key["public"], doc.base_url
    row.fingerprint = doc.fingerprint
    session.add(row)
    detail = {"fingerprint": doc.fingerprint, "base_url": doc.base_url}
    audit.record(session, actor_id, "directory_pinned", f"directory:{doc.node_id}", detail, now)
    return [row]


def owed_to(node: str, debts: list[dict]) -> dict[str, int]:
    """Per counterparty, what it owes `node` (negative: what `node` owes it)."""
    out: dict[str, int] = {}
    for debt in debts:
        if debt["creditor"] == node:
            out[debt["debtor"]] = out.get(debt["debtor"], 0) + debt["amount"]
        elif debt["debtor"] == node:
            out[debt["creditor"]] = out.get(debt["creditor"], 0) - debt["amount"]
    return out


def applied_count(session) -> int:
    return session.execute(
        select(func.count()).select_from(SettlementPart).where(SettlementPart.state == "applied")
    ).scalar_one()


def statement_positions(session, fed) -> list[dict]:
    """Our position towards each active peer without an open dispute, as of our channel points now."""
    disputed = set(session.scalars(select(Dispute.peer_id).where(Dispute.status == "open")).all())
    out = []
    for peer in session.scalars(select(Peer).where(Peer.status == "active").order_by(Peer.node_id)).all():
        if peer.node_id in disputed or len(out) == MAX_POSITIONS:
            continue
        out.append(
            {
                "peer": peer.node_id,
                "position": -position_of(session, peer.node_id),
                "as_of_seq_sent": chain_point(session, fed.node_id, peer.node_id, "out")[0],
                "as_of_seq_received": chain_point(session, fed.node_id, peer.node_id, "in")[0],
                "trust_limit": peer.trust_limit,
            }
        )
    return out


def lapse_overdue(session, fed, now: datetime) -> int:
    """Accepted rounds whose certificate did not come within the apply window are over for us."""
    lapse, settings = PART.timeout("accepted"), fed.ctx.settings
    rows = session.scalars(select(SettlementPart).where(SettlementPart.state == lapse.source)).all()
    overdue = [p for p in rows if p.deadline is not None and lapse.deadline(p, settings) < now]
    for part in overdue:
        _move(part, lapse.target, "no certificate within the apply window")
    return len(overdue)


def _move(part: SettlementPart, state: str, reason: str = "") -> None:
    PART.move(part, state)
    if reason:
        part.reason = reason[:280]


def give_statement(fed, coordinator: str, round_id: str) -> Envelope:
    """Our signed positions for a round, as of now: asked again, we state afresh until we answered its proposal."""
    ctx = fed.ctx
    with ctx.db.write() as session:
        now = ctx.now()
        lapse_overdue(session, fed, now)
        part = session.get(SettlementPart, round_id)
        if part is not None and part.coordinator != coordinator:
            raise Refusal("round_id_taken", f"round {round_id} is run by {part.coordinator}")
        if part is not None and part.state != "stated":
            return load(part.statement)  # the statement its proposal was checked against
        for other in session.scalars(select(SettlementPart).where(SettlementPart.state == "accepted")).all():
            if other.coordinator != coordinator:
                raise Refusal(
                    "round_in_progress",
                    f"this node accepted round {other.round_id} of {other.coordinator} and waits for its certificate",
                )
            # A coordinator starts a new round only once its last one is over: delivered or abandoned.
            _move(other, "lapsed", f"{coordinator} started round {round_id}")
        env = make_envelope(
            type="position_statement",
            from_=fed.node_id,
            to=coordinator,
            created=now,
            id=new_envelope_id(),
            body={"round_id": round_id, "positions": statement_positions(session, fed)},
        )
        env = sign_envelope(env, signing_key(session, fed, coordinator))
        part = part or SettlementPart(round_id=round_id, coordinator=coordinator, state=PART.initial, created_at=now)
        part.statement, part.applied_before = stored(env), applied_count(session)
        session.add(part)
    return env


def answer_proposal(fed, coordinator: str, proposal: Envelope) -> Envelope:
    """Check a proposal against our books; our signed acceptance or refusal (the same one if asked again)."""
    ctx, body = fed.ctx, proposal.body
    proposal_hash = envelope_hash(proposal)
    with ctx.db.write() as session:
        now = ctx.now()
        lapse_overdue(session, fed, now)
        part = session.get(SettlementPart, body["round_id"])
        if part is None or part.coordinator != coordinator:
            raise Refusal("round_unknown", "this node stated no positions for that round")
        if fed.node_id not in body["participants"]:
            raise Refusal("not_a_participant", "the proposal does not name this node")
        if part.state != "stated":
            if part.proposal_hash == proposal_hash:
                return load(part.acceptance)
            raise Refusal("proposal_conflict", "this node already answered another proposal of that round")
        refusal, changes = check_proposal(session, fed, part, body, now)
        answer = {"round_id": part.round_id, "proposal_hash": proposal_hash, "accept": refusal is None}
        if refusal is not None:
            answer["reason"] = refusal[:280]
        env = make_envelope(
            type="settlement_acceptance",
            from_=fed.node_id,
            to=coordinator,
            created=now,
            body=answer,
            id=new_envelope_id(),
        )
        env = sign_envelope(env, signing_key(session, fed, coordinator))
        _move(part, "accepted" if refusal is None else "refused", refusal or "")
        part.proposal, part.proposal_hash, part.acceptance = stored(proposal), proposal_hash, stored(env)
        part.deadline, part.changes = parse_time(body["deadline"]), json.dumps(changes, sort_keys=True)
    return env


def check_proposal(session, fed, part: SettlementPart, body: dict, now: datetime) -> tuple[str | None, dict]:
    """Why we refuse a proposal ('code: reason'), or None; and the change to each of our positions."""
    me = fed.node_id
    stated = {p["peer"]: p["position"] for p in load(part.statement).body["positions"]}
    before, after = owed_to(me, body["before"]), owed_to(me, body["after"])
    changes = {
        q: before.get(q, 0) - after.get(q, 0)
        for q in sorted(set(before) | set(after))
        if before.get(q, 0) != after.get(q, 0)
    }  # as ledger balance: positive = we owe more
    if parse_time(body["deadline"]) <= now:
        return "deadline_passed: the proposal came after its own deadline", changes
    if parse_time(body["deadline"]) > now + MAX_HORIZON:  # accepting binds us until then: not for long
        return "deadline_too_far: a round may take a day at most", changes
    if applied_count(session) != part.applied_before:
        return "positions_changed: another settlement was applied since our statement", changes
    busy = session.scalars(
        select(SettlementPart).where(SettlementPart.state == "accepted", SettlementPart.round_id != part.round_id)
    ).first()
    if busy is not None:
        return f"round_in_progress: we accepted round {busy.round_id} and wait for its certificate", changes
    for q in sorted(set(before) | set(after)):
        if q not in stated or before.get(q, 0) != stated[q]:
            return (
                f"before_mismatch: with {q} the proposal has {before.get(q, 0)}, our statement "
                f"{stated.get(q, 'nothing')}",
                changes,
            )
    if sum(before.values()) != sum(after.values()):
        return f"net_changed: our net would go from {sum(before.values())} to {sum(after.values())}", changes
    totals = sum(d["amount"] for d in body["before"]) - sum(d["amount"] for d in body["after"])
    if body["cleared"] != totals:
        return f"bad_totals: cleared says {body['cleared']}, the debts {totals}", changes
    for q, owed in after.items():
        peer = session.get(Peer, q)
        if peer is None or peer.status != "active":
            return f"not_peered: {q} is not an active peer of ours", changes
        if owed > max(before.get(q, 0), peer.trust_limit):
            return f"trust_limit: {q} would owe us {owed}, over our trust limit of {peer.trust_limit}", changes
    return None, changes


def apply_certificate(fed, coordinator: str, env: Envelope) -> dict:
    """Verify a certificate and apply our part of it exactly once."""
    ctx, round_id = fed.ctx, env.body["round_id"]
    with ctx.db.write() as session:
        now = ctx.now()
        lapse_overdue(session, fed, now)
        part = session.get(SettlementPart, round_id)
        if part is None or part.coordinator != coordinator:
            raise Refusal("round_unknown", "this node took no part in that round")
        verify_certificate(session, fed, part, env.body)
        if part.state == "applied":
            return {"status": "already_applied", "round_id": round_id}
        if part.state not in ("accepted", "lapsed"):
            raise Refusal("not_accepted", f"this node did not accept round {round_id}")
        changes = json.loads(part.changes)
        _post_changes(session, round_id, coordinator, changes, now)
        _move(part, "applied")
        part.certificate, part.applied_at = stored(env), now
    return {"status": "applied", "round_id": round_id, "changes": changes}


def _post_changes(session, round_id: str, coordinator: str, changes: dict[str, int], now: datetime) -> None:
    """One balanced transaction on our position accounts (our net is unchanged, so the legs sum to zero)."""
    if not changes:
        return
    legs = [ledger.Leg(position_account(session, q, now), delta) for q, delta in sorted(changes.items())]
    # Limits were checked against the proposal; payments since then must not make the set-off fail.
    ledger.post(
        session,
        kind="settlement",
        legs=legs,
        memo=f"clearing round {round_id} run by {coordinator}",
        now=now,
        ref=f"settle:{round_id}",
        check_limits=False,
    )
    for q, delta in changes.items():
        pair = session.get(SettledPair, q) or SettledPair(peer_id=q)
        pair.settled, pair.settlements = (pair.settled or 0) + delta, (pair.settlements or 0) + 1
        session.add(pair)
    detail = {"coordinator": coordinator, "changes": dict(sorted(changes.items()))}
    audit.record(session, None, "clearing_applied", f"round:{round_id}", detail, now)


def verify_certificate(session, fed, part: SettlementPart, body: dict) -> None:
    """Refuse a certificate that is forged, incomplete, late or for another proposal than the one we answered.

    Every signature whose key we hold is checked: the coordinator's, ours, and our peers' (every
    participant our positions change with is a peer). A participant we are not peered with
    is checked by its own peers, who refuse a certificate that carries a forged acceptance of it.
    """
    keyring = node_keyring(session, fed)
    try:
        proposal = Envelope.from_dict(body["proposal"])
        acceptances = [Envelope.from_dict(raw) for raw in body["acceptances"]]
        for env in (proposal, *acceptances):
            check_form(env)
    except ProtocolError as exc:
        raise Refusal("certificate_malformed", f"the certificate does not read: {exc}") from None
    if proposal.from_ != part.coordinator or proposal.body["round_id"] != part.round_id:
        raise Refusal("certificate_mismatch", "the proposal is not of this round or its coordinator")
    _check_signed(proposal, keyring, "the proposal")
    proposal_hash = envelope_hash(proposal)
    if part.proposal_hash and proposal_hash != part.proposal_hash:
        raise Refusal("certificate_mismatch", "the certificate carries another proposal than we answered")
    participants, deadline = proposal.body["participants"], parse_time(proposal.body["deadline"])
    known = {info.node_id for info in keyring.values()}
    seen: set[str] = set()
    for acc in acceptances:
        who = acc.from_
        if who not in participants or who in seen or acc.to != part.coordinator:
            raise Refusal("certificate_mismatch", f"an acceptance from {who} does not belong here")
        if acc.body["round_id"] != part.round_id or acc.body["proposal_hash"] != proposal_hash:
            raise Refusal("certificate_mismatch", f"the acceptance of {who} answers another proposal")
        if not acc.body["accept"]:
            raise Refusal("certificate_incomplete", f"{who} refused the proposal")
        if parse_time(acc.created) > deadline:
            raise Refusal("certificate_late", f"{who} accepted after the deadline")
        if who == fed.node_id and stored(acc) != part.acceptance:
            raise Refusal("certificate_forged", "our own acceptance in it is not the one we signed")
        if who in known:
            _check_signed(acc, keyring, f"the acceptance of {who}")
        seen.add(who)
    missing = sorted(set(participants) - seen)
    if missing:
        raise Refusal("certificate_incomplete", f"no acceptance of {', '.join(missing)}")


def _check_signed(env: Envelope, keyring: Keyring, what: str) -> None:
    try:
        check_signature(env, keyring, parse_time(env.created))
    except ProtocolError as exc:
        raise Refusal("certificate_forged", f"{what} is not validly signed: {exc.message}") from None


def on_statement(fed, coordinator: str, env: Envelope) -> dict:
    if env.body["positions"]:
        raise Refusal("not_a_request", "send a statement request with no positions")
    return {"statement": give_statement(fed, coordinator, env.body["round_id"]).to_dict()}


def on_proposal(fed, coordinator: str, env: Envelope) -> dict:
    return {"acceptance": answer_proposal(fed, coordinator, env).to_dict()}
