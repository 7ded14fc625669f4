"""The short chaos run, shared by the tests of this folder (it costs about a minute, so it runs once)."""

from __future__ import annotations

import pytest

from .harness import Options, run_many

# Seeds of the short run in `make test`; `make chaos SEEDS=200` runs many more with five nodes.
# Seed 6 (instead of 3 since the workload has cross-border reviews and clearing rounds) plans every new kind.
SHORT_SEEDS = (1, 2, 6)
# Workload parts switched off until their bug is fixed (remove the entry with the fix; the seeds reproduce it):
# BUG-1 (fixed): POST /api/v1/federation/peers/<id>/checkpoint answers 500 when the peer's answer is lost.
SKIP_UNTIL_FIXED: tuple[str, ...] = ()
# BUG-2 (fixed): a second key rotation before every peer applied the first stalls delivery for good.
MAX_ROTATIONS_UNTIL_FIXED = 99  # no cap: BUG-2 fixed (federation.state, oldest unapplied rotation)
SHORT = Options(
    nodes=3, ops=50, members=3, quiet_timeout=45.0, skip=SKIP_UNTIL_FIXED, max_rotations=MAX_ROTATIONS_UNTIL_FIXED
)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    """Results of the short run; every seed's data folders are kept for the checker's self-check."""
    root = tmp_path_factory.mktemp("chaos")
    return run_many(list(SHORT_SEEDS), SHORT, root, keep=True)
