"""Browser tests start real nodes (the Chromium fixtures live in tests/browser_fixtures.py, shared by all)."""

from tests.procs import node_process  # noqa: F401  (fixture)
