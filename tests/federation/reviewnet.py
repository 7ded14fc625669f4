"""Helpers for the cross-border review tests: nodes with reviewers, proposals, and a look into a node's database."""

from __future__ import annotations

from pathlib import Path

from tests.pg import node_sql, node_tables
from tests.procs import NodeClient, NodeProcess

from .conftest import FAST, peer_both, peer_state, wait_until

COUNTRIES = {"it": "IT", "hu": "HU", "at": "AT"}
# Sweeps every second; pool changes go out at once; clocks move only when a test says so.
REVIEW_NET = {**FAST, "pool_share_seconds": 1}
REVIEW = {
    "shared_value": 4,
    "social_transformation": 3,
    "impact": 5,
    "confidence": 4,
    "feedback": "Clear plan; talk to the library network before you buy laptops.",
}


def start_nodes(node_process, *ids: str, trust: dict[tuple[str, str], int] | None = None) -> dict[str, NodeProcess]:
    """Nodes named by id (it, hu, at), each with its country, every pair peered both ways.

    trust[(a, b)] is the trust limit a extends to b (default 100).
    """
    trust = trust or {}
    nodes = {i: node_process(i, country=COUNTRIES[i], **REVIEW_NET) for i in ids}
    for n, a in enumerate(ids):
        for b in ids[n + 1 :]:
            peer_both(nodes[a], nodes[b], trust.get((a, b), 100), trust.get((b, a), 100))
    return nodes


def reviewer(
    node: NodeProcess,
    handle: str,
    expertise: list[str],
    *,
    capacity: int = 2,
    languages: tuple[str, ...] = ("en",),
    consent: bool = True,
) -> tuple[NodeClient, dict]:
    """A member who reviews and (by default) is shared with peers; returns their client and profile."""
    client = node.new_member(handle)
    profile = client.call(
        "PATCH",
        "/me",
        {
            "is_reviewer": True,
            "pool_consent": consent,
            "expertise": expertise,
            "languages": list(languages),
            "review_capacity": capacity,
            "organisation": f"{handle.title()} Cooperative",
        },
        expect=200,
    ).json()
    return client, profile


def pool_of(node: NodeProcess, peer_id: str) -> dict[str, dict]:
    """The reviewers `peer_id` shares with `node`, by pseudonym, as node's coordinator sees them."""
    peers = node.coordinator().call("GET", "/federation/pools", expect=200).json()["peers"]
    found = next((p for p in peers if p["peer"] == peer_id), {"reviewers": []})
    return {r["handle"]: r for r in found["reviewers"]}


def wait_in_pool(node: NodeProcess, peer_id: str, pseudonym: str, present: bool = True) -> None:
    wait_until(
        lambda: (pseudonym in pool_of(node, peer_id)) == present,
        what=f"{pseudonym} {'in' if present else 'out of'} {node.node_id}'s copy of {peer_id}'s pool",
    )


def propose(
    author: NodeClient,
    *,
    tags: list[str],
    wanted: int = 1,
    bounty: int = 3,
    foreign: int = 1,
    full_text: str = "The full plan.",
) -> dict:
    return author.call(
        "POST",
        "/proposals",
        {
            "title": "Laptops for the library",
            "summary": "Refurbished laptops lent by public libraries.",
            "full_text": full_text,
            "tags": tags,
            "language": "en",
            "stage": "pilot",
            "reviews_wanted": wanted,
            "bounty": bounty,
            "min_foreign_reviewers": foreign,
        },
        expect=201,
    ).json()


def proposal(author: NodeClient, proposal_id: int) -> dict:
    return author.call("GET", f"/proposals/{proposal_id}", expect=200).json()


def invitation_states(author: NodeClient, proposal_id: int) -> list[tuple[str, str]]:
    """(reviewer address, state) of every invitation of a proposal, oldest first."""
    return [(i["reviewer"], i["status"]) for i in proposal(author, proposal_id)["invitations"]]


def incoming(client: NodeClient) -> list[dict]:
    return client.call("GET", "/remote-invitations", expect=200).json()["invitations"]


def wait_incoming(client: NodeClient, status: str = "invited", what: str = "an invitation from abroad") -> dict:
    return wait_until(lambda: next((i for i in incoming(client) if i["status"] == status), None), what=what)


def advance_all(nodes, seconds: int) -> None:
    for node in nodes:
        node.advance_clock(seconds)


def drained(*nodes: NodeProcess) -> None:
    """Every channel between these nodes delivered and acknowledged."""
    for a in nodes:
        for b in nodes:
            if a is not b:
                wait_until(
                    lambda a=a, b=b: peer_state(a, b.node_id)["entries_pending"] == 0,
                    what=f"{a.node_id}'s entries to {b.node_id} acknowledged",
                )


def db_rows(node: NodeProcess, sql: str, *args) -> list[tuple]:
    """Read a running node's database directly (read-only), as an auditor would."""
    return node_sql(node.data_dir, sql, args)


def db_bytes_contain(node: NodeProcess, text: str) -> bool:
    """Whether the text appears anywhere in the node's database files (main file and write-ahead log).

    On the PostgreSQL lane: anywhere in any row of any table (the server's files are not ours to read).
    """
    if "database_url" in node.settings:
        return any(
            text in repr(row)
            for table in node_tables(node.data_dir)
            for row in node_sql(node.data_dir, f'SELECT * FROM "{table}"')
        )
    needle = text.encode()
    return any(needle in path.read_bytes() for path in Path(node.data_dir).glob("node.db*") if path.is_file())
