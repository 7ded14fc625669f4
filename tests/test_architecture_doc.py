"""ARCHITECTURE.md names every module of protocol/, node/, federation/ and deploy/ (by file name, or a pattern such as
settlement*.py), so the layout it explains stays the code's."""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocol", "node", "federation", "deploy")


def modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and "versions" not in path.parts
    )


def named_in_architecture() -> set[str]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return set(re.findall(r"[\w*]+\.py", text))


def test_every_module_is_named_in_architecture_md():
    names = named_in_architecture()
    missing = [
        str(path.relative_to(ROOT))
        for path in modules()
        if not any(fnmatch.fnmatch(path.name, pattern) for pattern in names)
    ]
    assert missing == [], f"ARCHITECTURE.md does not name: {missing}"


def test_the_check_sees_modules_and_names():
    assert len(modules()) > 80 and {"ledger.py", "channels.py", "chain.py"} <= named_in_architecture()
