"""Add a schema revision: `python -m node.migrations.new_revision 0002 "what changed"`.

Revision 0001 is the schema of the first release and is never rewritten: nodes run on it.
This upgrades an empty scratch database to the current head, compares it with node/tables.py
and writes the difference as a new revision on top of the head. Read the generated file
before committing it: autogenerate misses renames and data moves.
"""

from __future__ import annotations

import argparse
import tempfile

from alembic import command

from node.db import alembic_config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev_id", help="revision id, the next number: 0002, 0003, ...")
    parser.add_argument("message", help="one line: what changed")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = alembic_config(f"sqlite:///{tmp}/scratch.db")
        command.upgrade(cfg, "head")
        command.revision(cfg, message=args.message, autogenerate=True, rev_id=args.rev_id)


if __name__ == "__main__":
    main()
