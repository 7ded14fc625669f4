"""Acting as a peer from a test: its real key (read from its data folder), hand-made requests."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

from federation.transport.httpsig import sign_request
from protocol import (
    ChannelRef,
    Envelope,
    SigningKey,
    b64url_decode,
    canonical_json,
    genesis_hash,
    make_envelope,
    sign_envelope,
)
from tests.pg import node_sql, node_tables

INBOX = "/federation/v1/inbox"


def node_key(data_dir: Path) -> SigningKey:
    return SigningKey.from_seed(b64url_decode((Path(data_dir) / "signing_key").read_text().strip()))


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Forger:
    """Builds channel entries and signed inbox requests as node `node_id` towards `target`."""

    def __init__(self, key: SigningKey, node_id: str, target_id: str, target_url: str):
        self.key, self.node_id, self.target_id, self.target_url = key, node_id, target_id, target_url

    def entry(
        self,
        seq: int,
        prev: str,
        type_name: str,
        body: dict,
        *,
        created: datetime | None = None,
        to: str | None = None,
        from_: str | None = None,
        key: SigningKey | None = None,
    ) -> Envelope:
        env = make_envelope(
            type=type_name,
            from_=from_ or self.node_id,
            to=to or self.target_id,
            created=created or now_utc(),
            body=body,
            id=uuid.uuid4().hex,
            channel=ChannelRef(seq, prev),
        )
        return sign_envelope(env, key or self.key)

    def transfer(self, seq: int, prev: str, payee: str, amount: int, **kw) -> Envelope:
        body = {"transfer_id": uuid.uuid4().hex, "payer": "forger", "payee": payee, "amount": amount, "memo": ""}
        return self.entry(seq, prev, "transfer", body, **kw)

    def request(
        self,
        envelopes: list,
        *,
        url: str | None = None,
        sign_url: str | None = None,
        from_header: str | None = None,
        to_header: str | None = None,
        key: SigningKey | None = None,
        created: datetime | None = None,
        body: bytes | None = None,
    ) -> requests.PreparedRequest:
        url = url or self.target_url + INBOX
        payload = (
            body
            if body is not None
            else canonical_json({"entries": [e.to_dict() if isinstance(e, Envelope) else e for e in envelopes]})
        )
        headers = sign_request(
            method="POST",
            url=sign_url or url,
            body=payload,
            from_node=from_header or self.node_id,
            to_node=to_header or self.target_id,
            key=key or self.key,
            now=created or now_utc(),
        )
        return requests.Request("POST", url, data=payload, headers=headers).prepare()

    def post(self, envelopes: list, **kw) -> requests.Response:
        return send(self.request(envelopes, **kw))


def send(prepared: requests.PreparedRequest) -> requests.Response:
    with requests.Session() as s:
        return s.send(prepared, timeout=20)


def genesis(sender: str, receiver: str) -> str:
    return genesis_hash(sender, receiver)


def db_digest(db_path: Path, *, skip: tuple[str, ...] = ("apscheduler_jobs",)) -> dict[str, str]:
    """SHA-256 per table over every row (sorted), read through SQLite's WAL (or the node's PostgreSQL database)."""
    data_dir = Path(db_path).parent
    out = {}
    for table in node_tables(data_dir):
        if table in skip:
            continue
        digest = hashlib.sha256()
        for row in sorted(node_sql(data_dir, f'select * from "{table}"'), key=repr):
            digest.update(repr(row).encode())
        out[table] = digest.hexdigest()[:16]
    return out


def chain_in(db_path: Path, peer_id: str) -> list[tuple[int, str, str]]:
    """(seq, hash, envelope json) of the entries a node applied from a peer."""
    return node_sql(
        Path(db_path).parent,
        "select seq, entry_hash, envelope from fed_channel_entries where peer_id=? and direction='in' order by seq",
        (peer_id,),
    )
