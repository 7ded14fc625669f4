"""Fixtures of the operations tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture
def restore_logging():
    """Undo what configure_logging does to the root and alembic loggers (it is meant for whole processes)."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, levels = list(root.handlers), (root.level, alembic.level)
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
    root.setLevel(levels[0])
    alembic.setLevel(levels[1])
