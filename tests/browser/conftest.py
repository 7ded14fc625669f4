"""Browser tests start real nodes (the Chromium fixtures live in tests/browser_fixtures.py, shared by all)."""
