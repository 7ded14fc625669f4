"""`sifnet directory init|run|list-node|approve|delist|nodes|poll|add-admin`, and the node's side:
`sifnet node directory-apply` and `sifnet node seed-initiatives`.

federation.cli.register_commands adds them (register_commands below) to every `sifnet` entry point.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from federation.state import Federation, federation_of
from node import cli as node_cli
from node.cli import command
from node.context import node_ctx
from node.errors import DomainError

from .settings import ENV_PREFIX, load_settings, write_settings_file

if TYPE_CHECKING:
    from node.context import NodeContext


def _settings(args: argparse.Namespace):
    return load_settings({"data_dir": args.data_dir} if args.data_dir else None)


def _open(args: argparse.Namespace):
    from .store import open_directory

    return open_directory(_settings(args))


def cmd_init(args: argparse.Namespace) -> int:
    data = Path(args.data_dir or os.environ.get(ENV_PREFIX + "DATA_DIR") or "./directory-data")
    data.mkdir(parents=True, exist_ok=True)
    settings_file = data / "settings.toml"
    if settings_file.exists() and not args.force:
        print(f"{settings_file} exists; use --force to rewrite it", file=sys.stderr)
        return 2
    values = {"data_dir": str(data.resolve())}
    for name in ("directory_id", "name", "base_url", "port", "poll_seconds"):
        if getattr(args, name, None) is not None:
            values[name] = getattr(args, name)
    if args.port and not args.base_url:
        values["base_url"] = f"http://127.0.0.1:{args.port}"
    write_settings_file(settings_file, values)
    from .store import open_directory

    directory = open_directory(load_settings({"data_dir": str(data)}))
    key = directory.key.public_key
    print(f"directory {directory.id} initialised in {data}")
    print(f"signing key {key.key_id}, fingerprint {key.fingerprint}")
    directory.close()
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from node.devserver import serve

    from .app import create_app, stop

    settings = _settings(args)
    app = create_app(settings=settings, start_poller=True)
    try:
        serve(app, settings.host, settings.port)
    finally:
        stop(app)
    return 0


def cmd_list_node(args: argparse.Namespace) -> int:
    from . import listings

    directory = _open(args)
    doc = listings.fetch_candidate(args.url, directory)
    with directory.db.write() as s:
        row = listings.apply(s, doc, directory_id=directory.id, now=directory.now())
        status = row.status
    print(f"{doc.node_id} ({doc.name}, {doc.country}) at {doc.base_url}: {status}, waiting for approval")
    print(f"fingerprint {doc.fingerprint}")
    print(
        f"read it back with {doc.node_id}'s coordinator, then: sifnet directory approve {doc.node_id} --fingerprint ..."
    )
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    from . import listings

    directory = _open(args)
    with directory.db.write() as s:
        row = listings.approve(s, node_id=args.node_id, fingerprint=args.fingerprint, now=directory.now())
        print(
            f"{row.node_id} is listed; key {row.fingerprint} pinned; polled every {directory.settings.poll_seconds} s"
        )
    return 0


def cmd_delist(args: argparse.Namespace) -> int:
    from . import listings

    directory = _open(args)
    with directory.db.write() as s:
        listings.delist(s, node_id=args.node_id, now=directory.now())
    print(f"{args.node_id} is no longer listed")
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    from . import listings

    directory = _open(args)
    with directory.db.read() as s:
        rows = listings.listings(s, include_delisted=True)
    for r in rows:
        waiting = f" candidate {r.candidate['fingerprint']}" if r.candidate else ""
        print(
            f"{r.node_id:8} {r.status:9} {r.health:12} {r.latency_ms or '-':>6} ms  {r.base_url}  "
            f"{r.fingerprint or '-'}{waiting}"
        )
    return 0


def cmd_poll(args: argparse.Namespace) -> int:
    from .poller import poll_once

    report = poll_once(_open(args))
    for o in report.outcomes:
        print(f"{o.node_id:8} {o.health:12} {o.latency_ms if o.latency_ms is not None else '-':>6} ms  {o.code}")
    print(f"{len(report.outcomes)} nodes polled in {report.seconds:.2f}s")
    return 0 if all(o.health in ("up", "slow") for o in report.outcomes) else 1


def cmd_add_admin(args: argparse.Namespace) -> int:
    from .admin import add_admin, password_hasher

    password = args.password
    if password is None:
        import getpass

        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            print("the two passwords differ", file=sys.stderr)
            return 2
    directory = _open(args)
    with directory.db.write() as s:
        row = add_admin(
            s,
            username=args.username,
            password=password,
            now=directory.now(),
            hasher=password_hasher(directory.settings),
            replace=args.reset_password,
        )
        name = row.username
    print(f"working-group admin {name} can log in at {directory.settings.base_url.rstrip('/')}/admin/login")
    return 0


def configure(sub) -> None:
    """Add the `sifnet directory` subcommands."""

    def add(name: str, fn, help_text: str):
        p = sub.add_parser(name, help=help_text)
        p.add_argument(
            "--data-dir", help=f"the directory's data folder (default ${ENV_PREFIX}DATA_DIR or ./directory-data)"
        )
        p.set_defaults(func=fn)
        return p

    p = add("init", cmd_init, "create the directory's data folder, settings file, signing key and database")
    for flag in ("--directory-id", "--name", "--base-url"):
        p.add_argument(flag)
    p.add_argument("--port", type=int)
    p.add_argument("--poll-seconds", type=int)
    p.add_argument("--force", action="store_true")
    add("run", cmd_run, "serve the directory and poll the listed nodes (development server)")
    add("list-node", cmd_list_node, "fetch a node's document by URL and record it, waiting for approval").add_argument(
        "url"
    )
    p = add("approve", cmd_approve, "list a node: pin its key after reading its fingerprint back")
    p.add_argument("node_id")
    p.add_argument("--fingerprint", required=True)
    add("delist", cmd_delist, "stop listing a node").add_argument("node_id")
    add("nodes", cmd_nodes, "show every node that applied, its status and pinned key")
    add("poll", cmd_poll, "poll every listed node once now and print the outcomes")
    p = add("add-admin", cmd_add_admin, "create a working-group account for the web admin (asks for the password)")
    p.add_argument("username")
    p.add_argument(
        "--password",
        help="the password (default: ask twice); visible to other local users, so only "
        "for throwaway setups like the devnet",
    )
    p.add_argument("--reset-password", action="store_true", help="set a new password for an existing account")


def register_commands(commands, groups) -> None:
    """The `sifnet directory` group, and the node commands that deal with a directory."""
    groups.add("directory", node_cli.Group("directory", "run the network directory of the working group", configure))
    node_cli.add_commands(commands, cmd_directory_pin, cmd_directory_apply, cmd_seed_initiatives)


def _url_and_fingerprint(p) -> None:
    p.add_argument("url")
    p.add_argument(
        "--fingerprint",
        default="",
        help="the directory's key fingerprint, read back to the working "
        "group: pins its key, so this node takes part in the clearing rounds the directory runs",
    )


def _pin_directory(ctx: NodeContext, fed: Federation, directory, fingerprint: str) -> None:
    from federation.settlement.participant import pin_directory

    with ctx.db.write() as s:
        pin_directory(s, fed, directory, fingerprint, ctx.now())
    print(
        f"pinned the key of {directory.node_id} ({directory.fingerprint}): this node takes part in its clearing rounds"
    )


@command(
    "directory-pin",
    "pin the key of the network directory this node is listed in (for its clearing rounds)",
    _url_and_fingerprint,
)
def cmd_directory_pin(args: argparse.Namespace) -> int:
    from federation.transport.peers import fetch_document
    from node.app import create_app

    app = create_app(settings=node_cli._data_dir_settings(args), start_delivery=False)
    ctx, fed = node_ctx(app), federation_of(app)
    _pin_directory(ctx, fed, fetch_document(args.url, now=ctx.now(), max_skew=fed.max_skew), args.fingerprint)
    return 0


@command("directory-apply", "apply to be listed in a network directory (give its URL)", _url_and_fingerprint)
def cmd_directory_apply(args: argparse.Namespace) -> int:
    from federation.transport.peers import fetch_document
    from node.app import create_app

    app = create_app(settings=node_cli._data_dir_settings(args), start_delivery=False)
    ctx, fed = node_ctx(app), federation_of(app)
    directory = fetch_document(args.url, now=ctx.now(), max_skew=fed.max_skew)
    if ctx.settings.directory_id != directory.node_id:
        raise DomainError(
            f'set directory_id = "{directory.node_id}" in this node\'s settings first: the node serves '
            "its summary only to the directory it chose",
            code="directory_not_chosen",
        )
    if args.fingerprint:
        _pin_directory(ctx, fed, directory, args.fingerprint)
    resp = requests.post(
        directory.base_url.rstrip("/") + "/api/v1/applications", json={"url": ctx.settings.base_url}, timeout=30
    )
    answer = resp.json()
    if resp.status_code != 201:
        raise DomainError(
            f"{directory.node_id} answered {resp.status_code}: {answer.get('error')}", code="application_refused"
        )
    print(f"applied to {directory.node_id} ({directory.name}); directory key {directory.fingerprint}")
    print(f"read this node's fingerprint to the working group: {answer['fingerprint']}")
    if not args.fingerprint:
        print(
            f"to take part in its clearing rounds, confirm {directory.fingerprint} with the working group and run "
            f"`sifnet node directory-pin {args.url} --fingerprint {directory.fingerprint}`"
        )
    return 0


@command("seed-initiatives", "add demo initiatives, listed with consent (for the devnet)")
def cmd_seed_initiatives(args: argparse.Namespace) -> int:
    from federation.initiatives.demo import seed_initiatives
    from node.app import create_app

    app = create_app(settings=node_cli._data_dir_settings(args), start_delivery=False)
    for line in seed_initiatives(node_ctx(app)):
        print(line)
    return 0
