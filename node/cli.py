"""The `sifnet` command line: `sifnet node init|run|create-coordinator|seed-demo|check-books|backup|restore`."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from .context import node_ctx
from .errors import DomainError
from .registry import Registry
from .settings import SettingsError, load_settings, write_settings_file

if TYPE_CHECKING:
    from flask import Flask


@dataclass(frozen=True)
class Command:
    """One `sifnet node <name>` command: its function, help line and how it adds its options."""

    name: str
    fn: Callable
    help: str
    arguments: Callable | None = None


@dataclass(frozen=True)
class Group:
    """Another command group (`sifnet directory ...`): its help and configure(subparsers)."""

    name: str
    help: str
    configure: Callable


class CommandFunction(Protocol):
    """A function described by @command: it carries its Command."""

    command: Command

    def __call__(self, *args: Any, **kwargs: Any) -> Any: ...


def command(name: str, help_text: str, arguments: Callable | None = None) -> Callable[[Callable], CommandFunction]:
    """Describe a function as the `sifnet node <name>` command (registering it is explicit: see register_commands)."""

    def decorator(fn: Callable) -> CommandFunction:
        described = cast(CommandFunction, fn)
        described.command = Command(name, fn, help_text, arguments)
        return described

    return decorator


def add_commands(commands: Registry[Command], *fns: CommandFunction) -> None:
    for fn in fns:
        commands.add(fn.command.name, fn.command)


def _data_dir_settings(args: argparse.Namespace, **extra):
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    overrides.update({k: v for k, v in extra.items() if v is not None})
    return load_settings(overrides)


@command("init", "create a node's data folder, settings file, signing key and database")
def cmd_init(args: argparse.Namespace) -> int:
    data = Path(args.data_dir or os.environ.get("SIFNET_DATA_DIR") or "./data")
    settings_file = data / "settings.toml"
    if settings_file.exists() and not args.force:
        print(f"{settings_file} exists; use --force to rewrite it", file=sys.stderr)
        return 2
    values = {name: getattr(args, name, None) for name in ("node_id", "node_name", "country", "base_url", "port")}
    app = init_node(data, {name: value for name, value in values.items() if value is not None})
    ctx = node_ctx(app)
    ctx.db.dispose()
    from .keys import ensure_signing_key

    key = ensure_signing_key(ctx.settings.data_path)
    print(f"node {ctx.settings.node_id} initialised in {data}")
    print(f"signing key {key.public_key.key_id}, fingerprint {key.public_key.fingerprint}")
    return 0


def init_node(data: Path, values: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> Flask:
    """Write a node's settings file (its data folder and `values`), signing key and migrated database.

    Returns the app built on them, without delivery (nothing is sent from here): the caller disposes of its
    database. `environ` stands for the process environment (SIFNET_* settings), as for load_settings.
    """
    data.mkdir(parents=True, exist_ok=True)
    values = {"data_dir": str(data.resolve()), **values}
    if values.get("port") and not values.get("base_url"):
        values["base_url"] = f"http://127.0.0.1:{values['port']}"
    write_settings_file(data / "settings.toml", values)
    settings = load_settings({"data_dir": str(data)}, environ)
    from .app import create_app
    from .keys import ensure_signing_key

    ensure_signing_key(settings.data_path)
    return create_app(settings=settings, start_delivery=False)


@command("run", "serve the node over HTTP (development server; use gunicorn in production)")
def cmd_run(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app
    from .scheduler import start_scheduler

    app = create_app(settings=settings)
    if settings.scheduler == "inprocess":
        start_scheduler(app)
    from .devserver import serve

    serve(app, settings.host, settings.port)
    if (fed := node_ctx(app).federation) is not None:  # interrupted: its delivery thread and connections to peers
        fed.stop()
    return 0


@command("worker", "run the scheduled jobs (deadlines, reminders, outbox retries, settlement) until SIGTERM")
def cmd_worker(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app
    from .observability import configure_logging
    from .scheduler import run_worker

    configure_logging(settings)
    app = create_app(settings=settings)
    run_worker(app)
    if (fed := node_ctx(app).federation) is not None:
        fed.stop()
    node_ctx(app).db.dispose()
    return 0


@command("upgrade", "bring the database schema to this version's newest migration (run with the worker stopped)")
def cmd_upgrade(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .db import Database
    from .ops import schema_revisions

    db = Database(settings.db_url)
    before = ", ".join(schema_revisions(db.engine)) or "empty"
    db.upgrade()
    after = ", ".join(schema_revisions(db.engine))
    db.dispose()
    print(f"database schema: {before} -> {after} (current)")
    return 0


@command("create-coordinator", "create (or promote) an active coordinator account")
def cmd_create_coordinator(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app

    if not args.email:
        print("--email is required", file=sys.stderr)
        return 2
    password = args.password or os.environ.get("SIFNET_COORDINATOR_PASSWORD") or getpass.getpass("Password: ")
    app = create_app(settings=settings, start_delivery=False)
    handle, email = add_coordinator(app, email=args.email, password=password, name=args.name, handle=args.handle)
    node_ctx(app).db.dispose()
    print(f"coordinator {handle}@{settings.node_id} ({email}) is active")
    return 0


def add_coordinator(
    app: Flask, *, email: str, password: str, name: str | None = None, handle: str | None = None
) -> tuple[str, str]:
    """Create (or promote) an active coordinator on the node of `app`; their handle and email."""
    from .services import members

    ctx = node_ctx(app)
    with ctx.db.write() as s:
        member = members.create_coordinator(
            s,
            ctx.settings,
            email=email,
            password=password,
            display_name=name or "Coordinator",
            handle=handle,
            now=ctx.now(),
            hasher=ctx.hasher,
        )
        return member.handle, member.email


@command("seed-demo", "fill the node with demo members, offers, reviewers and proposals")
def cmd_seed_demo(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app
    from .demo import seed_demo

    app = create_app(settings=settings)
    for line in seed_demo(app):
        print(line)
    return 0


@command("check-books", "verify the ledger invariant; exit 1 when the books do not balance")
def cmd_check_books(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app
    from .services import ledger

    ctx = node_ctx(create_app(settings=settings))
    with ctx.db.read() as s:
        books = ledger.check_books(s)
    print(
        f"accounts={books.accounts} txns={books.txns} sum={books.total_balance} "
        f"unbalanced={books.unbalanced_txns} drifted={books.drifted_accounts} -> {'OK' if books.ok else 'BROKEN'}"
    )
    return 0 if books.ok else 1


@command(
    "reindex-search",
    "rebuild the search terms of the member directory and the advice market (after an upgrade that changed how "
    "words are indexed; safe at any time)",
)
def cmd_reindex_search(args: argparse.Namespace) -> int:
    settings = _data_dir_settings(args)
    from .app import create_app
    from .services import advice_listings, directory

    ctx = node_ctx(create_app(settings=settings, start_delivery=False))
    with ctx.db.write() as s:
        listed = directory.rebuild(s)
        listings = advice_listings.rebuild_index(s)
    print(f"search terms rebuilt: {listed} members listed in the directory, {listings} open listings")
    return 0


def _backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", help="the backup file (a .tar.gz)")


def _restore_arguments(parser: argparse.ArgumentParser) -> None:
    _backup_arguments(parser)
    parser.add_argument(
        "--database-url",
        help="an empty database to restore into (default: the backed-up "
        "settings, $SIFNET_DATABASE_URL, or SQLite in the data folder)",
    )


@command(
    "backup",
    "write an online, consistent backup (database, keys, settings) to FILE while the node runs",
    _backup_arguments,
)
def cmd_backup(args: argparse.Namespace) -> int:
    from .backup import backup

    manifest = backup(_data_dir_settings(args), Path(args.file))
    print(
        f"backup of {manifest['node_id']} ({manifest['database']}, schema {manifest['revision']}) "
        f"written to {args.file}"
    )
    return 0


@command("restore", "restore a backup FILE into a fresh data folder (and an empty database)", _restore_arguments)
def cmd_restore(args: argparse.Namespace) -> int:
    from .backup import restore

    data = Path(args.data_dir or os.environ.get("SIFNET_DATA_DIR") or "./data")
    manifest = restore(Path(args.file), data, args.database_url)
    print(
        f"node {manifest['node_id']} restored into {data} from the backup of {manifest['created_at']}; "
        f"check it with `sifnet node check-books --data-dir {data}`"
    )
    return 0


def register_commands(commands: Registry[Command], groups: Registry[Group]) -> None:
    """The node's own commands (federation adds its own in federation.cli.register_commands)."""
    add_commands(
        commands,
        cmd_init,
        cmd_run,
        cmd_worker,
        cmd_upgrade,
        cmd_create_coordinator,
        cmd_seed_demo,
        cmd_check_books,
        cmd_reindex_search,
        cmd_backup,
        cmd_restore,
    )


def all_commands() -> tuple[Registry[Command], Registry[Group]]:
    """Every command of `sifnet`, whichever entry point runs it: the node's, then federation's."""
    commands, groups = Registry[Command]("command"), Registry[Group]("command group")
    register_commands(commands, groups)
    # As the app factory does, the CLI wires federation in (node never depends on it otherwise).
    from federation.cli import register_commands as register_federation

    register_federation(commands, groups)
    return commands, groups


def build_parser(commands: Registry[Command], groups: Registry[Group]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sifnet", description="The SIF network: national nodes and federation.")
    top = parser.add_subparsers(dest="group", required=True)
    node = top.add_parser("node", help="run and manage a national node")
    sub = node.add_subparsers(dest="command", required=True)
    for name, cmd in commands.items():
        p = sub.add_parser(name, help=cmd.help)
        p.add_argument("--data-dir", help="the node's data folder (default $SIFNET_DATA_DIR or ./data)")
        p.set_defaults(func=cmd.fn)
        if cmd.arguments is not None:
            cmd.arguments(p)
        if name == "init":
            p.add_argument("--node-id")
            p.add_argument("--node-name")
            p.add_argument("--country")
            p.add_argument("--base-url")
            p.add_argument("--port", type=int)
            p.add_argument("--force", action="store_true")
        if name == "create-coordinator":
            p.add_argument("--email")
            p.add_argument("--password", help="(or $SIFNET_COORDINATOR_PASSWORD, or asked)")
            p.add_argument("--name")
            p.add_argument("--handle")
    for name, group in groups.items():
        group.configure(top.add_parser(name, help=group.help).add_subparsers(dest="command", required=True))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser(*all_commands()).parse_args(argv)
    try:
        return args.func(args)
    except (DomainError, SettingsError) as exc:
        code = getattr(exc, "code", "settings_error")
        print(f"error [{code}]: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
