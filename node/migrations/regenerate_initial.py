"""Development helper until the first release: rewrite revision 0001 from the current tables.

Once a node has been deployed, never rewrite a revision: add a new one with
`alembic revision --autogenerate` instead.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from node.db import alembic_config

VERSIONS = Path(__file__).parent / "versions"


def main() -> None:
    for old in VERSIONS.glob("0001_*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        command.revision(alembic_config(f"sqlite:///{tmp}/empty.db"), message="node tables", autogenerate=True,
                         rev_id="0001")


if __name__ == "__main__":
    main()
