"""Key rotation across the federation: the new key is announced on every channel, signed by the old one.

The announcement carries the new key's proof of possession (protocol/rotation.py), and the
receiving side accepts it only when `protocol.check_chain` found that it can take effect, so
applying it here cannot fail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from node.services import audit
from protocol import Envelope, format_time, parse_time, sign_key_proof

from . import channels
from .tables import Peer, PeerKey


def rotate_key(fed, actor_id: int | None = None):
    """Rotate this node's key and tell every peer (pending delivery until they are reachable)."""
    ctx = fed.ctx
    with ctx.db.write() as session:
        now = ctx.now()
        old, new, old_end = fed.identity.rotate(session, now)
        body = {
            "new_kid": new.key_id,
            "new_public": new.public_key.b64,
            "old_kid": old.key_id,
            "old_not_after": format_time(old_end),
            "new_key_proof": sign_key_proof(new, fed.node_id, old.key_id),
        }
        for peer in session.scalars(select(Peer).where(Peer.status.in_(("active", "suspended")))).all():
            channels.append(session, fed, peer_id=peer.node_id, type_name="key_rotation", now=now, key=old, body=body)
        detail = {"old_kid": old.key_id, "new_kid": new.key_id, "old_valid_until": old_end}
        audit.record(session, actor_id, "key_rotated", f"node:{fed.node_id}", detail, now)
    return old, new, old_end


def apply_key_rotation(session, fed, peer: Peer, env: Envelope, now: datetime) -> None:
    """Learn a peer's new key (checked by the chain check: signed by the old key, proven, unclaimed)."""
    body = env.body
    session.get(PeerKey, body["old_kid"]).not_after = parse_time(body["old_not_after"])
    session.add(
        PeerKey(
            kid=body["new_kid"], peer_id=peer.node_id, public=body["new_public"], not_before=parse_time(env.created)
        )
    )
