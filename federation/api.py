"""JSON API for federation: coordinators manage peers and disputes; members see cross-border payments."""

from __future__ import annotations

from flask import Flask, current_app, g, jsonify

from node.api.base import ANY_OBJECT, BOOL, ApiBlueprint, arr, integer, json_body, obj, only_fields, string
from node.context import node_ctx
from node.services import members
from node.tables import Member

from federation.transport import peers as peers_service
from federation.transport.checkpoints import exchange_checkpoint, resolve_dispute
from federation.tables import ChannelEntry, Dispute

api = ApiBlueprint("federation", "federation")
PEER = {
    "type": "object",
    "properties": {
        "node_id": string(),
        "name": string(),
        "country": string(),
        "base_url": string(),
        "status": string(),
        "fingerprint": string(),
        "trust_limit": integer(),
        # The ledger's sign, as on the coordinator's pages: the opposite of position_statement on the wire.
        "position": {
            **integer(),
            "description": "SIF this node owes the peer (negative: the peer owes this node); "
            "the wire's position_statement uses the opposite sign",
        },
        "entries_pending": integer(),
    },
}
NODE_ID = {"type": "string", "pattern": "^[a-z][a-z0-9-]{1,31}$"}


def _coordinator(session) -> Member:
    me = session.get(Member, g.member.id)
    members.require_coordinator(me)
    return me


def _peer_json(session, node_id: str) -> dict:
    return next(p for p in peers_service.peer_states(session) if p["node_id"] == node_id)


@api.route(
    "/federation/peers",
    "GET",
    "Every peer with its state: status, limit, position, backlog, next retry",
    response={"type": "object", "properties": {"peers": arr(PEER)}},
)
def list_peers():
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        return jsonify({"peers": peers_service.peer_states(session)})


@api.route(
    "/federation/peers",
    "POST",
    "Add a peer by its base URL; shows its key fingerprint to confirm",
    status=201,
    body=obj(("url",), url=string(300)),
    response=PEER,
)
def add_peer():
    data = only_fields(json_body(), ("url",))
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _coordinator(session)
    fed = current_app.extensions["sifnet_federation"]
    doc = peers_service.fetch_document(data.get("url"), now=ctx.now(), max_skew=fed.max_skew)  # outside any transaction
    with ctx.db.write() as session:
        peers_service.add_peer(session, doc, own_node_id=ctx.settings.node_id, now=ctx.now(), actor_id=me.id)
        session.flush()
        out = _peer_json(session, doc.node_id)
    return jsonify(out), 201


@api.route(
    "/federation/peers/<node_id>/confirm",
    "POST",
    "Pin the peer's key after reading its fingerprint back",
    body=obj(("fingerprint",), fingerprint=string(64), trust_limit=integer(0, 10**9)),
    response=PEER,
)
def confirm_peer(node_id: str):
    data = only_fields(json_body(), ("fingerprint", "trust_limit"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _coordinator(session)
        peers_service.confirm_peer(
            session,
            node_id=node_id,
            fingerprint=data.get("fingerprint"),
            trust_limit=data.get("trust_limit", ctx.settings.default_trust_limit),
            now=ctx.now(),
            actor_id=me.id,
        )
        session.flush()
        out = _peer_json(session, node_id)
    return jsonify(out)


@api.route(
    "/federation/peers/<node_id>/trust-limit",
    "POST",
    "Set how much this peer may owe us",
    body=obj(("trust_limit",), trust_limit=integer(0, 10**9), below_debt=BOOL),
    response=PEER,
)
def set_trust_limit(node_id: str):
    """A limit below what the peer owes now is refused (409 trust_limit_below_debt) unless below_debt is true."""
    data = only_fields(json_body(), ("trust_limit", "below_debt"))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _coordinator(session)
        peers_service.set_trust_limit(
            session,
            node_id=node_id,
            limit=data.get("trust_limit"),
            now=ctx.now(),
            actor_id=me.id,
            below_debt=data.get("below_debt") is True,
        )
        session.flush()
        out = _peer_json(session, node_id)
    return jsonify(out)


@api.route(
    "/federation/peers/<node_id>/suspend",
    "POST",
    "Suspend (defederate) a peer, with a reason",
    body=obj(("reason",), reason=string(500)),
    response=PEER,
)
def suspend_peer(node_id: str):
    data = only_fields(json_body(), ("reason",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _coordinator(session)
        peers_service.suspend_peer(session, node_id=node_id, reason=data.get("reason"), now=ctx.now(), actor_id=me.id)
        session.flush()
        out = _peer_json(session, node_id)
    return jsonify(out)


@api.route("/federation/peers/<node_id>/resume", "POST", "Resume a suspended peer", response=PEER)
def resume_peer(node_id: str):
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _coordinator(session)
        peers_service.resume_peer(session, node_id=node_id, now=ctx.now(), actor_id=me.id)
        session.flush()
        out = _peer_json(session, node_id)
    current_app.extensions["sifnet_federation"].kicker and current_app.extensions["sifnet_federation"].kicker.kick(
        node_id
    )
    return jsonify(out)


@api.route(
    "/federation/peers/<node_id>/checkpoint",
    "POST",
    "Exchange a signed checkpoint with the peer now",
    response={"type": "object", "properties": {"agrees": {"type": "boolean"}, "problems": arr(string())}},
)
def checkpoint_now(node_id: str):
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        peers_service.get_peer(session, node_id)
    return jsonify(exchange_checkpoint(current_app.extensions["sifnet_federation"], node_id))


@api.route(
    "/federation/peers/<node_id>/entries",
    "GET",
    "The channel entries with a peer, both directions",
    response={"type": "object", "properties": {"entries": arr(ANY_OBJECT)}},
)
def channel_entries(node_id: str):
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        rows = (
            session.query(ChannelEntry)
            .filter(ChannelEntry.peer_id == node_id)
            .order_by(ChannelEntry.direction, ChannelEntry.seq)
            .all()
        )
        return jsonify(
            {
                "entries": [
                    {
                        "direction": r.direction,
                        "seq": r.seq,
                        "type": r.type,
                        "hash": r.entry_hash,
                        "created_at": r.created_at,
                        "acked_at": r.acked_at,
                    }
                    for r in rows
                ]
            }
        )


@api.route(
    "/federation/disputes",
    "GET",
    "Disputes with peers, open first",
    response={"type": "object", "properties": {"disputes": arr(ANY_OBJECT)}},
)
def list_disputes():
    ctx = node_ctx()
    with ctx.db.read() as session:
        _coordinator(session)
        rows = session.query(Dispute).order_by(Dispute.status.desc(), Dispute.id.desc()).all()
        return jsonify({"disputes": [r.model_dump() for r in rows]})


@api.route(
    "/federation/disputes/<int:dispute_id>/resolve",
    "POST",
    "Mark a dispute resolved, saying how",
    body=obj(("resolution",), resolution=string(1000)),
    response=ANY_OBJECT,
)
def resolve(dispute_id: int):
    data = only_fields(json_body(), ("resolution",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _coordinator(session)
        out = resolve_dispute(session, dispute_id, data.get("resolution"), ctx.now(), actor_id=me.id).model_dump()
    return jsonify(out)


@api.route(
    "/me/cross-border",
    "GET",
    "Your payments to and from other nodes, with their state",
    response={"type": "object", "properties": {"transfers": arr(ANY_OBJECT)}},
)
def my_cross_border():
    from federation.payments.transfers import transfers_of

    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify({"transfers": transfers_of(session, g.member.id)})


def register_api(app: Flask) -> None:
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
