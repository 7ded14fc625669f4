"""The directory page in a real Chromium, with five fake national nodes' data: tables and charts render.

Screenshots go to test-artifacts/browser/directory_browser/.
"""
from __future__ import annotations

import threading
import time

import pytest
from werkzeug.serving import make_server

from federation.directory.poller import poll_once
from tests.directory.conftest import list_node
from tests.directory.fakes import network

pytestmark = pytest.mark.browser


@pytest.fixture
def served(directory_app, directory, fake_node):
    """The directory app on a loopback port, after polling five fake nodes (one of them then stopped)."""
    nodes = {n.node_id: n for n in network(fake_node)}
    for node in nodes.values():
        list_node(directory, node)
    poll_once(directory)
    time.sleep(1.1)  # summaries are stored to the second
    nodes["nl"].body["members"] += 3  # a second summary, so that figures over time have a line
    poll_once(directory)
    nodes["at"].stop()
    poll_once(directory)
    server = make_server("127.0.0.1", 0, directory_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def visible_size(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    return (box["width"], box["height"]) if box else (0, 0)


def test_the_directory_page_renders_tables_and_charts(served, new_page, screenshot):
    page = new_page(served)
    page.goto("/")
    assert page.locator("#nodes tr").count() == 6  # header and five nodes
    assert page.locator("#node-at .badge").inner_text().startswith("unreachable")
    assert page.locator("#node-hu .badge").inner_text() == "up"
    assert page.locator("#positions .mark.bad").count() == 1
    charts = page.locator("svg.chart")
    assert charts.count() == 4
    for n in range(4):
        width, height = visible_size(charts.nth(n))
        assert width > 200 and height > 60, f"chart {n} is not drawn ({width}x{height})"
    assert page.locator("#reviewers svg rect").count() > 10  # bars per tag and country
    assert page.locator("#flows svg path.flow").count() >= 5  # arrows between countries
    assert page.locator("#clearing td").first.inner_text() == "r-2026-03"
    assert "160–163" in page.locator("#totals svg").text_content()  # members over time: one line that rose
    screenshot(page, "network")
    page.locator("#nodes a", has_text="Fake hu").click()
    page.wait_for_url("**/nodes/hu")
    assert page.locator("svg.strip rect").count() >= 3
    screenshot(page, "node")


def test_initiatives_and_a_quick_scan(served, new_page, screenshot):
    page = new_page(served)
    page.goto("/initiatives")
    assert page.locator("#initiatives tr").count() == 8  # header and seven initiatives
    assert page.locator("#groups .group").count() == 2
    screenshot(page, "initiatives")
    page.locator("select[name=initiative]").select_option("be-vl:i-2")
    page.locator("button", has_text="Find similar").click()
    page.wait_for_url("**/scan?**")
    rows = page.locator("#matches tr")
    assert rows.nth(1).locator("td").nth(1).inner_text().startswith("Wijkkeuken Rotterdam-Zuid")
    assert "interests shared" in rows.nth(1).inner_text()
    screenshot(page, "scan")
