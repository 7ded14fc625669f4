"""Key rotation across the federation: the new key is announced on every channel, signed by the old one."""
from __future__ import annotations

from sqlalchemy import select

from protocol import format_time

from . import channels
from .tables import Peer


def rotate_key(fed):
    """Rotate this node's key and tell every peer (pending delivery until they are reachable)."""
    ctx = fed.ctx
    with ctx.db.write() as session:
        now = ctx.now()
        old, new, old_end = fed.identity.rotate(session, now)
        for peer in session.scalars(select(Peer).where(Peer.status.in_(("active", "suspended")))).all():
            channels.append(session, fed, peer_id=peer.node_id, type_name="key_rotation", now=now, key=old,
                            body={"new_kid": new.key_id, "new_public": new.public_key.b64,
                                  "old_kid": old.key_id, "old_not_after": format_time(old_end)})
    return old, new, old_end


@channels.handles("key_rotation")
def apply_key_rotation(session, fed, peer, env, now) -> None:
    """Learn a peer's new key from an entry signed with its old one; the old key gets its end date."""
    from protocol import parse_time

    from .tables import PeerKey

    body = env.body
    old = session.get(PeerKey, body["old_kid"])
    if old is not None and old.peer_id == peer.node_id:
        old.not_after = parse_time(body["old_not_after"])
    if session.get(PeerKey, body["new_kid"]) is None:
        session.add(PeerKey(kid=body["new_kid"], peer_id=peer.node_id, public=body["new_public"],
                            not_before=parse_time(env.created)))
