"""How a round's coordinator talks to its participants: a signed direct message, or a local call for itself.

A coordinator is a node (`NodeCoordinator`: its participants are its active peers) or the
network directory (federation/directory/clearing.py: its participants are the nodes it lists,
which pinned its key when they applied). Both expose the same few methods, so
coordinator.py runs a round the same way for either.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import requests
from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.settlement import participant as settlement
from federation.state import Federation, federation_of
from federation.tables import Peer, SeenNonce
from federation.transport.httpsig import read_signature_input, sign_request, verify_request
from federation.transport.identity import new_envelope_id
from federation.transport.inbox import authenticate, record_nonce
from federation.transport.peers import keyring_of
from federation.transport.refusal import Refusal, register
from node.services import audit
from protocol import (
    Envelope,
    KeyInfo,
    Keyring,
    ProtocolError,
    PublicKey,
    SigningKey,
    canonical_json,
    check_form,
    check_signature,
    make_envelope,
    parse_json,
    parse_time,
    sign_envelope,
    verify_envelope,
)

if TYPE_CHECKING:
    from federation.directory.store import Directory
    from node.context import NodeContext

SETTLEMENT_PATH = "/federation/v1/settlement"
bp = Blueprint("federation_settlement", __name__)
register(bp)


class BadAnswer(Exception):
    """A participant's answer that does not count (an error, or not what was asked)."""


class Coordinator:
    """What running a round needs: an id, a database and clock (`ctx`), keys, and a way to reach participants."""

    node_id: str
    ctx: NodeContext | Directory  # .db (read/write transactions), .now()
    deadline_seconds: int
    apply_seconds: int
    round_seconds: int
    takes_part = True  # a node is a participant of its own rounds; the directory, with no ledger, is not

    def lock(self, name: str):
        raise NotImplementedError

    def own_key(self) -> SigningKey:
        """The key proposals and certificates are signed with."""
        raise NotImplementedError

    def key_for(self, session: Session, to: str) -> SigningKey:
        """The key a message to one participant is signed with (the one it knows)."""
        raise NotImplementedError

    def keyring(self, session: Session) -> Keyring:
        """The keys participants' answers are checked with."""
        raise NotImplementedError

    def reachable(self, session: Session) -> set[str]:
        """Who may be asked to take part (besides this node itself)."""
        raise NotImplementedError

    def ask(self, node_id: str, env: Envelope) -> dict:
        """Send a participant a direct message; its answer, or `{"error": ...}` when it failed."""
        raise NotImplementedError

    def lapse_overdue(self) -> int:
        """Participations of our own that waited too long for a certificate (a node's; the directory has none)."""
        return 0

    def schedule_start(self, session: Session) -> datetime | None:
        """When the schedule of rounds starts counting if no round was run yet (None: at once)."""
        return None

    def record(
        self, session: Session, actor_id: int | None, action: str, round_id: str, detail: dict, now: datetime
    ) -> None:
        """Keep a round's start or outcome in the coordinator's audit log (the directory's history is its rounds)."""


class NodeCoordinator(Coordinator):
    """A node running a round: it reaches its active peers at their inbox for direct messages."""

    ctx: NodeContext

    def __init__(self, fed: Federation) -> None:
        self.fed, self.ctx, self.node_id = fed, fed.ctx, fed.node_id
        s = fed.ctx.settings
        self.deadline_seconds, self.apply_seconds = s.settlement_deadline_seconds, s.settlement_apply_seconds
        self.round_seconds = s.settlement_round_seconds

    def lock(self, name: str):
        return self.fed.peer_lock(name)

    def own_key(self) -> SigningKey:
        return self.fed.identity.current_key()

    def key_for(self, session: Session, to: str) -> SigningKey:
        return settlement.signing_key(session, self.fed, to)

    def keyring(self, session: Session) -> Keyring:
        return settlement.node_keyring(session, self.fed)

    def reachable(self, session: Session) -> set[str]:
        return set(session.scalars(select(col(Peer.node_id)).where(col(Peer.status) == "active")).all())

    def ask(self, node_id: str, env: Envelope) -> dict:
        fed = self.fed
        if node_id == fed.node_id:
            return _ask_self(fed, env)
        with fed.ctx.db.read() as session:
            peer = session.get(Peer, node_id)
            if peer is None or peer.status != "active":
                return {"error": {"code": "peer_not_active", "message": f"{node_id} is not an active peer"}}
            key = fed.request_key_for(session, node_id)
        return post_signed(
            fed.http_for(peer),
            peer.base_url.rstrip("/") + SETTLEMENT_PATH,
            env,
            from_node=fed.node_id,
            to_node=node_id,
            key=key,
            now=fed.ctx.now(),
            timeout=fed.timeout,
        )

    def lapse_overdue(self) -> int:
        with self.ctx.db.write() as session:
            return settlement.lapse_overdue(session, self.fed, self.ctx.now())

    def record(
        self, session: Session, actor_id: int | None, action: str, round_id: str, detail: dict, now: datetime
    ) -> None:
        audit.record(session, actor_id, action, f"round:{round_id}", detail, now)


def coordinator_of(fed_or_coordinator: Federation | Coordinator) -> Coordinator:
    """A node's federation runs rounds as a NodeCoordinator; a Coordinator is used as it is."""
    if isinstance(fed_or_coordinator, Coordinator):
        return fed_or_coordinator
    return NodeCoordinator(fed_or_coordinator)


def post_signed(
    http, url: str, env: Envelope, *, from_node: str, to_node: str, key: SigningKey, now: datetime, timeout: float
) -> dict:
    """POST one envelope with an RFC 9421 request signature; the JSON answer, or `{"error": ...}`."""
    body = canonical_json(env.to_dict())
    headers = sign_request(method="POST", url=url, body=body, from_node=from_node, to_node=to_node, key=key, now=now)
    try:
        response = http.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)  # signed for url
        answer = parse_json(response.content)
    except (requests.RequestException, ProtocolError) as exc:
        return {"error": {"code": "unreachable", "message": f"{exc.__class__.__name__}: {exc}"[:300]}}
    if not isinstance(answer, dict):
        return {"error": {"code": "bad_answer", "message": f"HTTP {response.status_code}"}}
    return answer


def signed(session: Session, co: Coordinator, type_name: str, to: str, body: dict, now: datetime) -> Envelope:
    env = make_envelope(type=type_name, from_=co.node_id, to=to, created=now, body=body, id=new_envelope_id())
    return sign_envelope(env, co.key_for(session, to))


def checked_answer(co: Coordinator, answer: dict, key: str, type_name: str, sender: str, round_id: str) -> Envelope:
    """The signed envelope in a participant's answer, checked: its type, sender, round and signature."""
    if key not in answer:
        error = answer.get("error") or {}
        raise BadAnswer(f"{error.get('code', 'bad_answer')}: {error.get('message', '')}")
    try:
        env = Envelope.from_dict(answer[key])
        check_form(env)
        if (env.type, env.from_, env.to, env.body["round_id"]) != (type_name, sender, co.node_id, round_id):
            raise BadAnswer(f"the answer is not a {type_name} of {sender} for this round")
        with co.ctx.db.read() as session:
            check_signature(env, co.keyring(session), parse_time(env.created))
    except ProtocolError as exc:
        raise BadAnswer(f"{exc.code}: {exc.message}") from None
    return env


def _ask_self(fed: Federation, env: Envelope) -> dict:
    """Take part in our own round through the same functions a peer's message reaches."""
    try:
        if env.type == "position_statement":
            return {"statement": settlement.give_statement(fed, fed.node_id, env.body["round_id"]).to_dict()}
        if env.type == "settlement_proposal":
            return {"acceptance": settlement.answer_proposal(fed, fed.node_id, env).to_dict()}
        return settlement.apply_certificate(fed, fed.node_id, env)
    except Refusal as exc:
        return {"error": exc.to_dict()}


@bp.post(SETTLEMENT_PATH)
def settlement_message():
    """A coordinator's statement request, proposal or certificate; our answer.

    There is no replay check on the envelope id (only on the request's nonce): every settlement
    message is answered idempotently (a statement afresh, a proposal with the same signed
    acceptance, a certificate applied once), and a coordinator whose answer was lost in transit
    asks again with the very same proposal.
    """
    f = federation_of()
    body = request.get_data(cache=True)
    coordinator, keyring, nonce = _authenticate(f, body)
    env = Envelope.from_dict(parse_json(body))
    if env.from_ != coordinator:
        raise Refusal("origin_mismatch", f"a message from {env.from_} came in {coordinator}'s request")
    verify_envelope(
        env, keyring=keyring, expected_to=f.node_id, now=f.ctx.now(), max_skew=f.max_skew, max_age=f.max_age
    )
    handler = f.settlement_handlers.get(env.type)
    if handler is None or env.channel is not None:
        raise Refusal("unsupported_type", f"{env.type} is not a settlement message")
    with f.ctx.db.write() as session:
        record_nonce(session, coordinator, nonce, f.ctx.now())
    return jsonify(handler(f, coordinator, env))


def _authenticate(f, body: bytes) -> tuple[str, Keyring, str]:
    """The coordinator (an active peer, or our pinned directory), the keys its envelopes verify with, the nonce."""
    sender = request.headers.get("Sifnet-From", "")
    pinned = []
    if sender and sender == f.ctx.settings.directory_id:
        with f.ctx.db.read() as session:
            pinned = settlement.directory_keys(session, f)
    if not pinned:
        peer, nonce = authenticate(f, body)
        with f.ctx.db.read() as session:
            return peer.node_id, keyring_of(session), nonce
    with f.ctx.db.read() as session:
        keys = {k.kid: PublicKey.from_b64(k.public) for k in pinned}
        kid = read_signature_input(request.headers).key_id
        if kid not in keys:
            raise Refusal("unknown_key", f"key {kid} is not a pinned key of {sender}")
        url = f.ctx.settings.base_url.rstrip("/") + request.full_path.rstrip("?")
        signed_request = verify_request(
            method=request.method,
            url=url,
            headers=request.headers,
            body=body,
            public_key=keys[kid],
            now=f.ctx.now(),
            max_skew=f.max_skew,
            max_age=f.max_age,
        )
        if signed_request.to_node != f.node_id:
            raise Refusal("wrong_recipient", f"this request is for {signed_request.to_node}")
        if session.get(SeenNonce, signed_request.nonce) is not None:
            raise Refusal("request_replayed", "this request was already received")
    return sender, Keyring.of(*(KeyInfo(sender, key) for key in keys.values())), signed_request.nonce
