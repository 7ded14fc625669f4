"""`sifnet` with federation: peering and key rotation commands on top of the node's commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from federation.state import federation_of
from node import cli as node_cli
from node.cli import Command, Group, add_commands, command
from node.context import node_ctx
from node.registry import Registry


def _app(args: argparse.Namespace):
    from node.app import create_app

    return create_app(settings=node_cli._data_dir_settings(args), start_delivery=False)


def _peer_args(p: argparse.ArgumentParser) -> argparse.Action:
    return p.add_argument("node_id")


@command(
    "peer-add",
    "fetch a peer's node document by URL and record it (pending until confirmed)",
    lambda p: p.add_argument("url"),
)
def cmd_peer_add(args: argparse.Namespace) -> int:
    from federation.transport import peers

    app = _app(args)
    ctx, fed = node_ctx(app), federation_of(app)
    doc = peers.fetch_document(args.url, now=ctx.now(), max_skew=fed.max_skew)
    with ctx.db.write() as s:
        peers.add_peer(s, doc, own_node_id=ctx.settings.node_id, now=ctx.now())
    print(f"added {doc.node_id} ({doc.name}, {doc.country}) at {doc.base_url}")
    print(f"fingerprint {doc.fingerprint}")
    print(
        f"read it back with {doc.node_id}'s coordinator, then: sifnet node peer-confirm {doc.node_id} --fingerprint ..."
    )
    return 0


@command(
    "peer-confirm",
    "pin a pending peer's key after checking its fingerprint",
    lambda p: (
        _peer_args(p),
        p.add_argument("--fingerprint", required=True),
        p.add_argument("--trust-limit", type=int),
    ),
)
def cmd_peer_confirm(args: argparse.Namespace) -> int:
    from federation.transport import peers

    ctx = node_ctx(_app(args))
    limit = args.trust_limit if args.trust_limit is not None else ctx.settings.default_trust_limit
    with ctx.db.write() as s:
        peers.confirm_peer(s, node_id=args.node_id, fingerprint=args.fingerprint, trust_limit=limit, now=ctx.now())
    print(f"{args.node_id} is confirmed; trust limit {limit}")
    return 0


@command(
    "peer-trust",
    "set the trust limit extended to a peer",
    lambda p: (
        _peer_args(p),
        p.add_argument("trust_limit", type=int),
        p.add_argument("--below-debt", action="store_true", help="also below what the peer owes now"),
    ),
)
def cmd_peer_trust(args: argparse.Namespace) -> int:
    from federation.transport import peers

    ctx = node_ctx(_app(args))
    with ctx.db.write() as s:
        peers.set_trust_limit(
            s, node_id=args.node_id, limit=args.trust_limit, now=ctx.now(), below_debt=args.below_debt
        )
    print(f"trust limit towards {args.node_id}: {args.trust_limit}")
    return 0


@command(
    "peer-suspend", "suspend (defederate) a peer", lambda p: (_peer_args(p), p.add_argument("--reason", required=True))
)
def cmd_peer_suspend(args: argparse.Namespace) -> int:
    from federation.transport import peers

    ctx = node_ctx(_app(args))
    with ctx.db.write() as s:
        peers.suspend_peer(s, node_id=args.node_id, reason=args.reason, now=ctx.now())
    print(f"{args.node_id} is suspended")
    return 0


@command("peer-resume", "resume a suspended peer", _peer_args)
def cmd_peer_resume(args: argparse.Namespace) -> int:
    from federation.transport import peers

    ctx = node_ctx(_app(args))
    with ctx.db.write() as s:
        peers.resume_peer(s, node_id=args.node_id, now=ctx.now())
    print(f"{args.node_id} is active again")
    return 0


@command("peer-list", "list peers with status, limit, position and backlog")
def cmd_peer_list(args: argparse.Namespace) -> int:
    from federation.transport import peers

    ctx = node_ctx(_app(args))
    with ctx.db.read() as s:
        rows = peers.peer_states(s)
    for p in rows:
        print(
            f"{p['node_id']:8} {p['status']:9} limit={p['trust_limit']:<6} position={p['position']:<6} "
            f"pending={p['entries_pending']:<4} {p['base_url']}  {p['fingerprint']}"
        )
    return 0


@command("rotate-key", "switch to a new signing key; peers learn it from a message signed with the old one")
def cmd_rotate_key(args: argparse.Namespace) -> int:
    from federation.transport.keys import rotate_key

    app = _app(args)
    old, new, old_end = rotate_key(federation_of(app))
    print(f"new key {new.key_id} (fingerprint {new.public_key.fingerprint})")
    print(f"old key {old.key_id} stays valid until {old_end:%Y-%m-%d %H:%M}Z; peers are told over their channels")
    return 0


@command(
    "clearing-round",
    "run a clearing round with every active peer (or --participants) and print the outcome",
    lambda p: (
        p.add_argument("--participants", help="comma-separated node ids, this node's if it takes part"),
        p.add_argument("--deadline-seconds", type=int),
        p.add_argument("--preview", action="store_true"),
    ),
)
def cmd_clearing_round(args: argparse.Namespace) -> int:
    import time

    from federation.settlement.coordinator import advance_round, start_round
    from federation.settlement.web import history

    app = _app(args)
    fed = federation_of(app)
    chosen = [n.strip() for n in args.participants.split(",") if n.strip()] if args.participants else None
    round_id = start_round(fed, participants=chosen, deadline_seconds=args.deadline_seconds, propose=not args.preview)
    # The running node's sweep may be taking the same round forward: wait for the outcome, whoever reaches it.
    give_up = time.monotonic() + 30  # a certified round still being delivered is reported as it stands
    state = advance_round(fed, round_id)
    while not args.preview and (
        state in ("collecting", "proposed") or (state == "certified" and time.monotonic() < give_up)
    ):
        time.sleep(0.5)
        state = advance_round(fed, round_id)
    with fed.ctx.db.read() as s:
        entry = history(s, fed, round_id)[0]
    print(
        f"round {round_id}: {entry['state']}; debt {entry['total_before']} before, {entry['total_after']} after, "
        f"{entry['cleared']} cleared"
    )
    for debt in entry["after"]:
        print(f"  after: {debt['debtor']} owes {debt['creditor']} {debt['amount']}")
    if entry["reason"]:
        print(f"  {entry['reason']}")
    return 0 if entry["state"] in ("settled", "empty", "computed", "certified") else 1


def register_commands(commands: Registry[Command], groups: Registry[Group]) -> None:
    """Federation's `sifnet node` commands and the `sifnet directory` group."""
    from federation.directory import cli as directory_cli

    add_commands(
        commands,
        cmd_peer_add,
        cmd_peer_confirm,
        cmd_peer_trust,
        cmd_peer_suspend,
        cmd_peer_resume,
        cmd_peer_list,
        cmd_rotate_key,
        cmd_clearing_round,
    )
    directory_cli.register_commands(commands, groups)


def main(argv: Sequence[str] | None = None) -> int:
    """The `sifnet` console script: the same commands as `python -m node.cli`."""
    return node_cli.main(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
