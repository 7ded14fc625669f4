"""Peering: add a peer by URL, pin its key by fingerprint, trust limits, suspension (defederation)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from flask_babel import gettext as _
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from federation.labels import PEER_STATUS
from federation.tables import ChannelEntry, DirectoryKey, LocalKey, Peer, PeerKey, table_of
from federation.transport.identity import DOCUMENT_PATH
from federation.transport.known_keys import known_keys
from node import labels
from node.errors import ConflictError, DomainError, NotFoundError, ValidationError
from node.lifecycle import lifecycle
from node.services import audit, ledger
from node.tables import Account
from protocol import Envelope, KeyInfo, Keyring, ProtocolError, PublicKey, parse_json, parse_time, verify_envelope

# A peer waits until a coordinator confirms its key's fingerprint; a suspended peer is defederated
# (its requests refused, nothing sent to it) until resumed.
PEER = lifecycle(
    "peer",
    "pending",
    table=Peer,
    pending="active",
    active="suspended",
    suspended="active",
)


@dataclass(frozen=True)
class PeerDocument:
    """A verified node document fetched from a would-be peer."""

    node_id: str
    name: str
    country: str
    base_url: str
    keys: tuple[dict, ...]
    current_kid: str
    fingerprint: str
    raw: str


def fetch_document(url: object, *, now: datetime, max_skew: timedelta, timeout: float = 10.0) -> PeerDocument:
    """GET a node's self-signed document and verify it (no database transaction is open here)."""
    if not isinstance(url, str) or not re.fullmatch(r"https?://[\x21-\x7e]{3,290}", url.strip()):
        raise ValidationError(
            _("Give the address of the node, for example %(url)s.", url="https://sif.example.org"),
            code="invalid_url",
            field="url",
        )
    base = url.strip().rstrip("/")
    try:
        response = requests.get(base + DOCUMENT_PATH, timeout=timeout)
    except requests.RequestException as exc:
        raise DomainError(
            _(
                "%(url)s could not be reached (%(error)s). Check the address, or try again later.",
                url=base,
                error=exc.__class__.__name__,
            ),
            code="peer_unreachable",
            status=502,
        ) from None  # the message names the cause
    if response.status_code != 200:
        raise DomainError(
            _(
                "%(url)s answered with HTTP status %(status)s instead of its node document.",
                url=base,
                status=response.status_code,
            ),
            code="peer_unreachable",
            status=502,
        )
    return verify_document(response.content, now=now, max_skew=max_skew)


def verify_document(raw: bytes, *, now: datetime, max_skew: timedelta) -> PeerDocument:
    """Check a node document's self-signature with the keys it lists."""
    try:
        env = Envelope.from_dict(parse_json(raw))
        if env.type != "node_document":
            raise DomainError(_("That address does not serve a node document."), code="not_a_node_document", status=502)
        infos = [
            KeyInfo(
                env.from_,
                PublicKey.from_b64(k["public"]),
                parse_time(k["not_before"]) if k.get("not_before") else None,
                parse_time(k["not_after"]) if k.get("not_after") else None,
            )
            for k in env.body["keys"]
        ]
        verify_envelope(
            env, keyring=Keyring.of(*infos), expected_to="*", now=now, max_skew=max_skew, max_age=timedelta(days=1)
        )
    except ProtocolError as exc:
        raise DomainError(
            _("The node document's signature does not verify: %(problem)s", problem=exc.message),
            code=f"document_{exc.code}",
            status=502,
        ) from None
    if env.body["node_id"] != env.from_:
        raise DomainError(
            _("The node document names one node but is signed by another."), code="document_origin_mismatch", status=502
        )
    sig = env.sig
    if sig is None:  # verify_envelope refuses an unsigned document
        raise DomainError(_("That address does not serve a node document."), code="not_a_node_document", status=502)
    current = PublicKey.from_b64(next(k["public"] for k in env.body["keys"] if k["kid"] == sig.kid))
    return PeerDocument(
        env.from_,
        env.body["name"],
        env.body["country"],
        env.body["base_url"],
        tuple(env.body["keys"]),
        sig.kid,
        current.fingerprint,
        raw.decode(),
    )


def add_peer(
    session: Session, doc: PeerDocument, *, own_node_id: str, now: datetime, actor_id: int | None = None
) -> Peer:
    """Record a would-be peer as pending until a coordinator confirms its fingerprint.

    Only the key that signed the document is pinned: it is the one key the document proves the
    peer holds (other listed keys could be anyone's). Later keys come from its signed rotations.
    """
    if doc.node_id == own_node_id:
        raise ValidationError(_("That is the address of this node itself."), code="peer_is_self", field="url")
    if session.get(Peer, doc.node_id) is not None:
        raise ConflictError(_("%(node)s is already a peer.", node=doc.node_id), code="peer_exists")
    owner = key_owner(session, doc.current_kid, own_node_id)
    if owner is not None:
        raise ConflictError(
            _("The key of this document is already known here as a key of %(node)s.", node=owner), code="key_claimed"
        )
    key = next(k for k in doc.keys if k["kid"] == doc.current_kid)
    peer = Peer(
        node_id=doc.node_id,
        base_url=doc.base_url,
        name=doc.name,
        country=doc.country,
        fingerprint=doc.fingerprint,
        document=doc.raw,
        status=PEER.initial,
        created_at=now,
    )
    session.add(peer)
    session.flush()
    session.add(
        PeerKey(
            kid=key["kid"],
            peer_id=doc.node_id,
            public=key["public"],
            not_before=parse_time(key["not_before"]) if key.get("not_before") else None,
            not_after=parse_time(key["not_after"]) if key.get("not_after") else None,
        )
    )
    detail = {"base_url": doc.base_url, "fingerprint": doc.fingerprint}
    audit.record(session, actor_id, "peer_added", f"peer:{doc.node_id}", detail, now)
    return peer


def get_peer(session: Session, node_id: str) -> Peer:
    peer = session.get(Peer, node_id)
    if peer is None:
        raise NotFoundError(_("There is no peer %(node)s.", node=node_id), code="peer_not_found")
    return peer


# Core statements on the peers table (no ORM compile or load): read on every inbound request and payment abroad.
_PEERS = table_of(Peer)
_PEER_ROW = select(_PEERS).where(_PEERS.c.node_id == bindparam("node_id"))
_PEER_STATUS = select(_PEERS.c.status).where(_PEERS.c.node_id == bindparam("node_id"))


def peer_status(session: Session, node_id: str) -> str | None:
    """A peer's status (pending, active, suspended), or None for a node that is not our peer."""
    return session.execute(_PEER_STATUS, {"node_id": node_id}).scalar()


def peer_as_read(session: Session, node_id: str) -> Peer:
    """A peer as one Core statement read it, for code that reads it only (the inbox's apply path).

    The object belongs to no session: a change to it is never written (use get_peer to change a peer).
    """
    row = session.execute(_PEER_ROW, {"node_id": node_id}).mappings().first()
    if row is None:
        raise NotFoundError(_("There is no peer %(node)s.", node=node_id), code="peer_not_found")
    return Peer(**row)


def normalise_fingerprint(text: object) -> str:
    return re.sub(r"[^A-Z2-7]", "", str(text or "").upper())


def confirm_peer(
    session: Session,
    *,
    node_id: str,
    fingerprint: object,
    trust_limit: object,
    now: datetime,
    actor_id: int | None = None,
) -> Peer:
    """Pin the peer's key: the coordinator read the fingerprint back and it matches."""
    peer = get_peer(session, node_id)
    if peer.status != "pending":
        raise ConflictError(
            _(
                "%(node)s is not waiting for confirmation: it is %(state)s.",
                node=node_id,
                state=PEER_STATUS(peer.status),
            ),
            code="peer_not_pending",
        )
    if normalise_fingerprint(fingerprint) != normalise_fingerprint(peer.fingerprint):
        raise ValidationError(
            _("The fingerprint does not match the peer's key. Read it back with their coordinator again."),
            code="fingerprint_mismatch",
            field="fingerprint",
        )
    limit = _trust_limit(trust_limit)
    PEER.move(peer, "active")
    _apply_trust_limit(session, peer, limit, now)
    detail = {"fingerprint": peer.fingerprint, "trust_limit": limit}
    audit.record(session, actor_id, "peer_confirmed", f"peer:{node_id}", detail, now)
    return peer


def position_account(session: Session, peer_id: str, now: datetime):
    """This node's position towards a peer: positive when we owe them, negative when they owe us."""
    return ledger.open_account(session, kind="position", ref=f"position:{peer_id}", now=now)


def set_trust_limit(
    session: Session,
    *,
    node_id: str,
    limit: object,
    now: datetime,
    actor_id: int | None = None,
    below_debt: bool = False,
) -> Peer:
    """How much this peer may owe us: our position towards it may not go below -limit.

    A limit below what the peer owes now is set only when the caller says so (`below_debt`): nothing already
    paid is undone, but every payment from that node that would add to its debt is returned to its payer
    (trust_limit_exceeded), those on their way included, until the debt is under the limit again.
    """
    limit = _trust_limit(limit)
    peer = get_peer(session, node_id)
    owed = -position_account(session, node_id, now).balance
    if limit < owed and not below_debt:
        raise ConflictError(
            _(
                "%(node)s owes this node %(owed)s now, more than the new limit of %(limit)s. Nothing already paid "
                "is undone, but every payment from %(node)s that would add to its debt, those on their way "
                "included, is returned to its payer until the debt is below the limit. To set it anyway, tick "
                "the box and send the form again.",
                node=node_id,
                owed=labels.amount(owed),
                limit=labels.amount(limit),
            ),
            code="trust_limit_below_debt",
            field="trust_limit",
        )
    old = peer.trust_limit
    _apply_trust_limit(session, peer, limit, now)
    audit.record(session, actor_id, "trust_limit_changed", f"peer:{node_id}", {"old": old, "new": limit}, now)
    return peer


def _trust_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 0 <= limit <= 10**9:
        raise ValidationError(
            _("The trust limit must be a whole number, 0 or more."), code="invalid_trust_limit", field="trust_limit"
        )
    return limit


def _apply_trust_limit(session: Session, peer: Peer, limit: int, now: datetime) -> None:
    peer.trust_limit = limit
    position_account(session, peer.node_id, now).min_balance = -limit


def require_reachable(session: Session, node_id: str) -> Peer:
    """The peer a member's answer goes to, while it is active; a clear refusal while it is suspended or retired."""
    peer = get_peer(session, node_id)
    if peer.status != "active":
        raise ConflictError(
            _(
                "Your answer cannot reach %(node)s now: that node is %(state)s.",
                node=peer.node_id,
                state=PEER_STATUS(peer.status),
            ),
            code="peer_not_active",
        )
    return peer


def suspend_peer(session: Session, *, node_id: str, reason: object, now: datetime, actor_id: int | None = None) -> Peer:
    """Defederate: refuse the peer's requests and stop sending to it, with a reason."""
    peer = get_peer(session, node_id)
    if not isinstance(reason, str) or not reason.strip():
        raise ValidationError(_("Give a reason for suspending the peer."), code="missing_field", field="reason")
    if peer.status != "active":
        raise ConflictError(
            _("%(node)s cannot be suspended: it is %(state)s.", node=node_id, state=PEER_STATUS(peer.status)),
            code="peer_not_active",
        )
    PEER.move(peer, "suspended")
    peer.status_reason = reason.strip()[:500]
    audit.record(session, actor_id, "peer_suspended", f"peer:{node_id}", {"reason": peer.status_reason}, now)
    return peer


def resume_peer(session: Session, *, node_id: str, now: datetime, actor_id: int | None = None) -> Peer:
    peer = get_peer(session, node_id)
    if peer.status != "suspended":
        raise ConflictError(_("%(node)s is not suspended.", node=node_id), code="peer_not_suspended")
    PEER.move(peer, "active")
    peer.status_reason = ""
    peer.failures, peer.next_attempt_at = 0, None
    audit.record(session, actor_id, "peer_resumed", f"peer:{node_id}", {}, now)
    return peer


_ALL_KEYS = select(
    col(PeerKey.kid), col(PeerKey.peer_id), col(PeerKey.public), col(PeerKey.not_before), col(PeerKey.not_after)
).order_by(PeerKey.kid)
_KEYS_OF_PEER = _ALL_KEYS.where(col(PeerKey.peer_id) == bindparam("peer_id"))
# Parsed keyrings by the exact rows they were built from: the rows are read on every call, so a
# new, rotated or expired key (from this process or another) is a new cache key, never a stale hit.
_KEYRINGS: dict[tuple, Keyring] = {}
_KEYRINGS_MAX = 64


def keyring_of(session: Session, peer_id: str | None = None) -> Keyring:
    """Every key we know of a peer (or of all peers), with its validity, for verifying envelopes.

    With all peers' keys, an envelope signed by another peer's key is refused as
    key_not_of_sender rather than as an unknown key.
    """
    if peer_id is None:
        rows = tuple(tuple(r) for r in session.execute(_ALL_KEYS))
    else:
        rows = tuple(tuple(r) for r in session.execute(_KEYS_OF_PEER, {"peer_id": peer_id}))
    keyring = _KEYRINGS.get(rows)
    if keyring is None:
        keyring = Keyring.of(
            *[
                KeyInfo(peer, PublicKey.from_b64(public), not_before, not_after)
                for _kid, peer, public, not_before, not_after in rows
            ]
        )
        if len(_KEYRINGS) >= _KEYRINGS_MAX:
            _KEYRINGS.clear()
        _KEYRINGS[rows] = keyring
    return keyring


def network_keyring(session: Session, own_id: str) -> Keyring:
    """Every key this node knows, of any node: its own, every peer's and its directory's.

    A key id belongs to exactly one node here, so an envelope signed by (or a rotation to) a key
    of another node is recognised as such rather than as an unknown key.
    """
    return known_keys(session, own_id).network


def key_owner(session: Session, kid: str, own_id: str) -> str | None:
    """The node a key id belongs to here (this node, a peer, the directory), or None."""
    if session.get(LocalKey, kid) is not None:
        return own_id
    peer_key = session.get(PeerKey, kid)
    if peer_key is not None:
        return peer_key.peer_id
    directory_key = session.get(DirectoryKey, kid)
    return directory_key.directory_id if directory_key is not None else None


def peer_states(session: Session) -> list[dict]:
    """What the coordinator sees per peer: status, limits, position, last contact, backlog, next retry."""
    out = []
    for peer in session.scalars(select(Peer).order_by(Peer.node_id)).all():
        pending = session.execute(
            select(func.count())
            .select_from(ChannelEntry)
            .where(
                col(ChannelEntry.peer_id) == peer.node_id,
                col(ChannelEntry.direction) == "out",
                col(ChannelEntry.acked_at).is_(None),
            )
        ).scalar_one()
        account = session.scalars(select(Account).where(col(Account.ref) == f"position:{peer.node_id}")).first()
        out.append(
            {
                "node_id": peer.node_id,
                "name": peer.name,
                "country": peer.country,
                "base_url": peer.base_url,
                "status": peer.status,
                "status_reason": peer.status_reason,
                "fingerprint": peer.fingerprint,
                "trust_limit": peer.trust_limit,
                "position": account.balance if account else 0,
                "last_contact_at": peer.last_contact_at,
                "entries_pending": pending,
                "failures": peer.failures,
                "next_attempt_at": peer.next_attempt_at,
                "last_error": peer.last_error,
            }
        )
    return out
