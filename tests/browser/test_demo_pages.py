"""The seeded demo as a visitor of the devnet sees it: logins work and the review cycle is on the pages."""

from __future__ import annotations

import pytest

from node.demo import DEMO_PASSWORD, load_cast
from tests.browser.test_review_cycle import balance, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_demo_members_see_their_review_cycle_advice_and_payments(node_process, new_page, screenshot):
    node = node_process("be-vl", node_name="SIF Flanders", require_approval=True)
    assert "6 members added" in node.cli("seed-demo").stdout
    cast = load_cast("be-vl", "BE")
    reviewed = cast["proposals"][0]

    author = new_page(node.url)
    log_in(author, f"{reviewed['who']}@be-vl.example", DEMO_PASSWORD)
    assert balance(author) != "10 SIF"  # escrow, an advice session and a payment moved SIF
    screenshot(author, "author-dashboard")
    author.goto("/proposals")
    author.get_by_role("link", name=reviewed["title"]).click()
    main = author.locator("main").inner_text()
    assert "Status: open" in main and "submitted" in main and "invited" in main
    assert "You rated it 5/5 for helpfulness." in main
    assert cast["review"]["feedback"].splitlines()[0] in main
    screenshot(author, "reviewed-proposal")

    author.get_by_role("link", name="Advice market").click()
    market = author.locator("main").inner_text()
    assert all(listing["title"] in market for listing in cast["listings"])
    screenshot(author, "advice-market")

    coordinator = new_page(node.url)
    log_in(coordinator, "coordinator@example.org", "correct horse battery")
    coordinator.get_by_role("link", name="Coordinator").click()
    assert reviewed["title"] in coordinator.locator("main").inner_text()
    screenshot(coordinator, "coordinator")
