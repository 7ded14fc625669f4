"""The directory page in a real Chromium: on the devnet's data (five real nodes), and on fakes for the odd cases.

Screenshots go to test-artifacts/browser/directory_browser/ (test-artifacts/ is in .gitignore).
"""

from __future__ import annotations

import importlib.util
import time

import pytest
import requests

from tests.devnet_fixture import load_devnet

pytestmark = pytest.mark.browser


def wait_for(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
    return value


def health(directory_url: str) -> dict[str, str]:
    rows = requests.get(f"{directory_url}/api/v1/nodes", timeout=10).json()["nodes"]
    return {r["node_id"]: r["health"] for r in rows}


@pytest.mark.slow
def test_on_devnet_data_the_working_group_approves_a_node_and_the_page_shows_five_up(devnet, new_page, screenshot):
    dn, url = load_devnet(), devnet.directory.url
    page = new_page(url)
    page.goto("/admin/")
    page.wait_for_url("**/admin/login?next=**")
    page.fill("input[name=username]", importlib.import_module("devnet_directory").ADMIN_USER)
    page.fill("input[name=password]", dn.DEMO_PASSWORD)
    page.locator("#login button").click()
    application = page.locator("#application-hu")
    assert devnet.nodes["hu"].fingerprint() in application.locator("code.fingerprint").inner_text()
    screenshot(page, "devnet-admin-application")
    # The working group types what hu's coordinator read aloud: the fingerprint in hu's own data folder.
    application.locator("input[name=fingerprint]").fill(devnet.nodes["hu"].fingerprint())
    application.locator("button", has_text="Approve").click()
    page.wait_for_url("**/admin/")
    assert "hu is listed" in page.locator(".flash.info").inner_text()
    assert page.locator("#audit tr.action-approve td").nth(1).inner_text() == "admin"
    wait_for(lambda: health(url).get("hu") == "up", 30, "hu polled and up")

    page.goto("/")
    rows = page.locator("#nodes tr[id^=node-]")
    assert rows.count() == 5
    assert page.locator("#nodes .badge.up").count() == 5
    assert page.locator("#reviewers table.matrix tr").count() > 1  # a tag per row, a country per column
    assert page.locator("#reviewers svg.chart rect").count() > 0
    assert page.locator("#flows svg.chart").count() == 1  # reviews; money has its own three sections
    assert page.locator("#payments svg path.flow").count() >= 1  # the demo payments between countries
    path = screenshot(page, "devnet-network")
    assert path.stat().st_size > 20_000

    page.goto("/initiatives")
    page.locator("select[name=initiative]").select_option(index=1)
    page.locator("button", has_text="Find similar").click()
    page.wait_for_url("**/scan?**")
    assert page.locator("#matches tr").count() >= 2  # a header and at least one similar initiative
    assert "share the interest" in page.locator("#matches tr").nth(1).inner_text()
    screenshot(page, "devnet-scan")


def visible_size(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return (box["width"], box["height"]) if box else (0, 0)


def test_the_directory_page_renders_tables_and_charts(polled_directory, new_page, screenshot):
    page = new_page(polled_directory)
    page.goto("/")
    assert page.locator("#nodes tr").count() == 6  # header and five nodes
    assert page.locator("#node-at .badge").inner_text().startswith("unreachable")
    assert page.locator("#node-hu .badge").inner_text() == "up"
    assert page.locator("#positions .mark.bad").count() == 1
    charts = page.locator("svg.chart")
    assert charts.count() == 6
    for n in range(6):
        width, height = visible_size(charts.nth(n))
        assert width > 200 and height > 60, f"chart {n} is not drawn ({width}x{height})"
    assert page.locator("#reviewers svg rect").count() > 10  # bars per tag and country
    assert page.locator("#flows svg path.flow").count() >= 5  # review arrows between countries
    assert page.locator("#positions svg path.flow").count() == 3  # who owes whom (the fakes report no payments)
    assert page.locator("#clearing td").first.inner_text() == "r-2026-03"
    assert "160–163" in page.locator("#totals svg").text_content()  # members over time: one line that rose
    screenshot(page, "network")
    page.locator("#nodes a", has_text="Fake hu").click()
    page.wait_for_url("**/nodes/hu")
    assert page.locator("svg.strip rect").count() >= 3
    screenshot(page, "node")


def test_initiatives_and_a_quick_scan(polled_directory, new_page, screenshot):
    page = new_page(polled_directory)
    page.goto("/initiatives")
    assert page.locator("#initiatives tr").count() == 8  # header and seven initiatives
    assert page.locator("#groups .group").count() == 2
    screenshot(page, "initiatives")
    page.locator("select[name=initiative]").select_option("be-vl:i-2")
    page.locator("button", has_text="Find similar").click()
    page.wait_for_url("**/scan?**")
    rows = page.locator("#matches tr")
    assert rows.nth(1).locator("td").nth(1).inner_text().startswith("Wijkkeuken Rotterdam-Zuid")
    assert "share the interest" in rows.nth(1).inner_text()
    screenshot(page, "scan")
