"""The federation HTTP endpoints: node document, channel inbox, direct messages.

Every POST is authenticated in this order: routing header names a known, confirmed,
unsuspended peer; the claimed key belongs to it; the RFC 9421 signature verifies over our
own URL and the body digest; it is fresh; it is addressed to us; its nonce is new. Then each
envelope must come from that same peer, be addressed to us and carry a valid signature.
Every refusal has its own code, and changes nothing.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session

from federation.state import Federation, federation_of
from federation.tables import Peer, SeenNonce, table_of
from federation.transport import channels, refusal
from federation.transport.httpsig import read_signature_input, verify_request
from federation.transport.identity import DOCUMENT_PATH, INBOX_PATH, MESSAGES_PATH
from federation.transport.known_keys import KnownKeys, known_keys
from federation.transport.peers import peer_status
from federation.transport.refusal import Refusal
from protocol import Envelope, canonical_json, parse_json, verify_envelope

bp = Blueprint("federation_inbox", __name__)
refusal.register(bp)


def fed():
    return federation_of()


@bp.get(DOCUMENT_PATH)
def node_document():
    f = fed()
    with f.ctx.db.read() as session:
        env = f.identity.node_document(session, f.ctx.now())
    return Response(canonical_json(env.to_dict()), mimetype="application/json")


def authenticate(f, body: bytes) -> tuple[Peer, str]:
    """Check the request's origin and signature (read-only), in SPEC's order; return the peer and its nonce."""
    with f.ctx.db.read() as session:
        peer_id, nonce = check_request(session, f, body, known_keys(session, f.node_id))
        peer = session.get(Peer, peer_id)
    return peer, nonce


# Core statements on the table (not the model): every inbound request reads its nonce (and its peer's status,
# peers.peer_status), and a statement built from model attributes passes through the ORM's compile and result
# steps, about twice the cost.
_NONCES = table_of(SeenNonce)
_NONCE_SEEN = select(_NONCES.c.nonce).where(_NONCES.c.nonce == bindparam("nonce"))
_INSERT_NONCE = insert(_NONCES)


def check_request(session: Session, f: Federation, body: bytes, keys: KnownKeys) -> tuple[str, str]:
    """Check the request's origin and signature in SPEC's order, in the caller's read; its peer id and nonce.

    The signature is verified inside the read transaction (CPU only, no lock).
    """
    ctx = f.ctx
    from_node = request.headers.get("Sifnet-From", "")
    status = peer_status(session, from_node) if from_node else None
    if status is None:
        raise Refusal("unknown_peer", f"{from_node or 'the sender'} is not a peer of this node")
    if status == "suspended":
        raise Refusal("peer_suspended", f"{from_node} is suspended by this node")
    if status != "active":
        raise Refusal("peer_not_confirmed", f"{from_node} is not confirmed yet")
    kid = read_signature_input(request.headers).key_id
    key = keys.peers.get(kid)
    if key is None:
        raise Refusal("unknown_key", f"key {kid} is unknown here")
    if key.node_id != from_node:
        raise Refusal("key_not_of_sender", f"key {kid} does not belong to {from_node}")
    url = ctx.settings.base_url.rstrip("/") + request.full_path.rstrip("?")
    signed = verify_request(
        method=request.method,
        url=url,
        headers=request.headers,
        body=body,
        public_key=key.public_key,
        now=ctx.now(),
        max_skew=f.max_skew,
        max_age=f.max_age,
    )
    check_key_window(key, signed.created)
    if signed.to_node != f.node_id:
        raise Refusal("wrong_recipient", f"this request is for {signed.to_node}, not {f.node_id}")
    if session.execute(_NONCE_SEEN, {"nonce": signed.nonce}).first() is not None:
        raise Refusal("request_replayed", "this request was already received")
    return from_node, signed.nonce


def check_key_window(key, created) -> None:
    """The request's key was valid when the request was signed."""
    if key.not_before is not None and created < key.not_before:
        raise Refusal("key_not_yet_valid", f"key {key.key_id} was not valid yet when the request was signed")
    if key.not_after is not None and created >= key.not_after:
        raise Refusal("key_expired", f"key {key.key_id} was retired when the request was signed")


def record_nonce(session: Session, peer_id: str, nonce: str, now) -> None:
    """Record an accepted request's nonce in the caller's transaction; a second request with it is a replay."""
    if session.execute(_NONCE_SEEN, {"nonce": nonce}).first() is not None:
        raise Refusal("request_replayed", "this request was already received")
    session.execute(_INSERT_NONCE, {"nonce": nonce, "peer_id": peer_id, "seen_at": now})


def remember_nonce(f, peer: Peer, nonce: str) -> None:
    """Record an accepted request's nonce in a transaction of its own."""
    with f.ctx.db.write() as session:
        record_nonce(session, peer.node_id, nonce, f.ctx.now())


def _batch(payload: object, peer_id: str, own_id: str) -> tuple[list[Envelope], object]:
    """The request's entries, and its acknowledgement of our entries (None when it carries none)."""
    if not isinstance(payload, dict) or "entries" not in payload or not set(payload) <= {"entries", "ack"}:
        raise Refusal("invalid_batch", 'the body must be {"entries": [...]}, with an optional "ack"')
    return channels.batch_of(payload["entries"], peer_id, own_id), payload.get("ack")


@bp.post(INBOX_PATH)
def inbox():
    """Receive a run of channel entries; answer with what is applied (and any gap to resend).

    The answer hands back our own unacknowledged entries towards the peer (SPEC section 12, The inbox and
    its receipt), which saves it a request of ours in return.
    """
    f = fed()
    with f.kicks_held() as kicks:  # our answering entries go out once this answer is sent
        peer_id, receipt = _receive(f)
    if receipt.entries:
        # Everything we owe the peer rides in this answer: it acknowledges in its next request, and only
        # what it has not acknowledged after the grace period is delivered to its inbox.
        kicks.discard(peer_id)
        f.kick_later(peer_id, f.ctx.settings.handback_grace_ms / 1000)
    response = Response(receipt.to_json(), mimetype="application/json")
    response.call_on_close(lambda: f.kick(kicks))
    return response


def _receive(f) -> tuple[str, channels.Receipt]:
    """Check and apply the request; the peer and the receipt (with what we owe the peer when it fits)."""
    body = request.get_data(cache=True)
    # One read for every check: the request's origin and signature, its acknowledgement, then its entries
    # against the chain, all with the keys as this one statement found them.
    with f.ctx.db.read() as session:
        keys = known_keys(session, f.node_id)
        peer_id, nonce = check_request(session, f, body, keys)
        envelopes, ack = _batch(parse_json(body), peer_id, f.node_id)
        acked = channels.check_ack(session, peer_id, ack) if ack is not None else None
        fresh = channels.check_entries(session, f, peer_id, envelopes, f.ctx.now(), keys=keys)
    offered: tuple[str, ...] = ()

    def first(session: Session) -> None:
        # Only a request that passed every check leaves a trace (its nonce), so a refusal changes nothing;
        # the nonce and the acknowledgement are written in the first apply transaction, which saves a commit.
        record_nonce(session, peer_id, nonce, f.ctx.now())
        if acked is not None:
            channels.mark_acked(session, peer_id, acked, f.ctx.now())

    def last(session: Session) -> None:
        nonlocal offered
        offered = channels.offer(session, peer_id)

    receipt = channels.receive_entries(f, peer_id, fresh, f.ctx.now(), first=first, last=last)
    resend_from = None
    if any(channels.channel_of(e).seq > receipt.through for e in envelopes):  # a gap: ask for what is missing
        resend_from = receipt.through + 1
    return peer_id, channels.Receipt(receipt.through, receipt.last_hash, resend_from, offered)


@bp.post(MESSAGES_PATH)
def direct_message():
    """Receive one signed direct message (checkpoints, settlement); replayed ids are refused."""
    f = fed()
    body = request.get_data(cache=True)
    peer, nonce = authenticate(f, body)
    env = Envelope.from_dict(parse_json(body))
    if env.from_ != peer.node_id:
        raise Refusal("origin_mismatch", f"a message from {env.from_} came in {peer.node_id}'s request")
    with f.ctx.db.read() as session:
        keyring = known_keys(session, f.node_id).network
    verify_envelope(
        env, keyring=keyring, expected_to=f.node_id, now=f.ctx.now(), max_skew=f.max_skew, max_age=f.max_age
    )
    handler = f.direct_handlers.get(env.type)
    if handler is None or env.channel is not None:
        raise Refusal("unsupported_type", f"{env.type} is not accepted as a direct message")
    with f.ctx.db.read() as session:
        if session.get(SeenNonce, "env:" + env.id) is not None:
            raise Refusal("replayed", "this message was already received")
    remember_nonce(f, peer, nonce)
    remember_nonce(f, peer, "env:" + env.id)
    answer = handler(f, peer, env)
    return jsonify(answer or {"status": "accepted"})
