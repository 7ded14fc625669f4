"""In a real browser, on a desktop and at 390 px: the statement with its chart and date filter, the notifications page
and mail settings, a pending member's waiting page, and the coordinator's audit trail. Screenshots of each."""

from __future__ import annotations

import csv
import io

import pytest

from tests.procs import COORDINATOR_EMAIL, PASSWORD, NodeClient

pytestmark = [pytest.mark.browser, pytest.mark.slow]
DAY = 24 * 3600
PHONE = {"width": 390, "height": 844}


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def fits(page) -> None:
    """Nothing on the page is wider than the screen: no sideways scrolling."""
    width = page.viewport_size["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def both_sizes(page, screenshot, name: str) -> None:
    """A screenshot on the desktop, then one at 390 px after checking that the page fits; back to the desktop."""
    screenshot(page, f"{name}-desktop")
    desktop = page.viewport_size
    page.set_viewport_size(PHONE)
    fits(page)
    screenshot(page, f"{name}-390px")
    page.set_viewport_size(desktop)


@pytest.fixture
def node(node_process):
    """A node with approval, where Bert paid Anna, booked a session with her, and got paid back days later."""
    node = node_process("be-vl", node_name="SIF Flanders", require_approval=True)
    coordinator = node.coordinator()
    anna, bert = node.new_member("anna", coordinator), node.new_member("bert", coordinator)
    assert bert.transfer("anna", 2, "soup and advice").status_code == 201
    node.advance_clock(3 * DAY)
    listing = anna.call(
        "POST", "/advice/listings", {"kind": "offer", "title": "Crowdfunding basics", "rate": 1, "tags": []}, expect=201
    ).json()
    bert.call("POST", f"/advice/listings/{listing['id']}/book", {"hours": 2}, expect=201)
    node.advance_clock(2 * DAY)
    assert anna.transfer("bert", 1, "thanks").status_code == 201
    return node, coordinator


def test_the_statement_with_chart_and_date_filter(node, new_page, screenshot):
    node, _coordinator = node
    page = new_page(node.url)
    log_in(page, "bert@example.org")
    page.goto("/statement")
    table = page.locator("#statement")
    assert table.locator("tbody tr").count() == 4
    assert "Escrow for advice session with Anna" in table.inner_text() and "held in escrow" in table.inner_text()
    assert "Payment to Anna" in table.inner_text() and "escrow:advice" not in page.content()
    chart = page.locator("#balance-chart svg")
    assert chart.is_visible() and chart.get_attribute("role") == "img"
    assert page.locator("#balance-chart svg title").text_content() == "Your balance over time"
    both_sizes(page, screenshot, "statement")
    rows = list(csv.DictReader(io.StringIO(page.request.get(node.url + "/statement.csv").text())))
    assert [r["amount"] for r in rows] == ["1", "-2", "-2", "10"]
    last_day = rows[0]["date"]  # the member's local day of the newest line
    page.get_by_label("From (day)").fill(last_day)
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/statement?from=*")
    assert table.locator("tbody tr").count() == 1 and "Payment from Anna" in table.inner_text()
    assert page.get_by_label("From (day)").input_value() == last_day
    both_sizes(page, screenshot, "statement-filtered")


def test_the_notifications_page_and_mail_settings(node, new_page, screenshot):
    node, _coordinator = node
    page = new_page(node.url)
    log_in(page, "anna@example.org")  # approved, paid by Bert, a session booked with her: three unread notifications
    count = page.locator("#nav-notes .count")
    assert count.inner_text() == "3"
    page.locator("#nav-notes").click()
    page.wait_for_url("**/notifications")
    assert page.locator("#notes li.unread").count() == 3
    assert "Session booked by Bert" in page.locator("#notes").inner_text()
    assert f"You received 2\xa0SIF from bert@{node.node_id}" in page.locator("#notes").inner_text()
    both_sizes(page, screenshot, "notifications")
    page.get_by_role("button", name="Mark all read").click()
    page.wait_for_url("**/notifications")
    assert page.locator("#notes li.unread").count() == 0 and page.locator("#nav-notes .count").count() == 0
    page.get_by_role("link", name="Which notifications also come by mail").click()
    page.wait_for_url("**/notifications/settings")
    booked = page.get_by_label("Someone booked an advice session with you")
    assert booked.is_checked() and not page.get_by_label("The author rated your review").is_checked()
    booked.uncheck()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/notifications/settings")
    assert not page.get_by_label("Someone booked an advice session with you").is_checked()
    both_sizes(page, screenshot, "mail-settings")


def test_a_pending_member_sees_the_waiting_page(node, new_page, screenshot):
    node, coordinator = node
    page = new_page(node.url)
    page.goto("/signup")
    page.get_by_label("Email").fill("hanne@example.org")
    page.get_by_label("Your name").fill("Hanne Wouters")
    page.get_by_label("Handle").fill("hanne")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/login")
    page.goto("/signup/confirm/" + NodeClient(node.url).mailed_token("hanne@example.org", "/signup/confirm/"))
    page.get_by_role("button", name="Make my account").click()
    page.wait_for_url("**/login")
    log_in(page, "hanne@example.org")
    assert "your account waits for approval" in page.locator("h1").inner_text()
    assert "What happens next" in page.locator("#waiting").inner_text()
    nav = [a.inner_text() for a in page.locator("header nav a").all()]
    assert nav == ["Waiting for approval", "Notifications", "Profile"]
    page.goto("/pay")
    page.wait_for_url("**/dashboard")  # no form that would fail
    both_sizes(page, screenshot, "waiting")
    pending = coordinator.call("GET", "/coordinator/dashboard", expect=200).json()["pending"]
    coordinator.approve(next(p["id"] for p in pending if p["email"] == "hanne@example.org"))
    page.goto("/notifications")
    assert "Your account on SIF Flanders is approved" in page.locator("#notes").inner_text()
    assert page.locator("header nav a", has_text="Pay").count() == 1


def test_the_coordinators_audit_trail(node, new_page, screenshot):
    node, _coordinator = node
    page = new_page(node.url)
    log_in(page, COORDINATOR_EMAIL)
    page.goto("/coordinator/")
    page.locator("#audit-link").click()
    page.wait_for_url("**/coordinator/audit")
    trail = page.locator("#audit")
    assert "member approved" in trail.inner_text() and "member anna" in trail.inner_text()
    both_sizes(page, screenshot, "audit-trail")
    page.get_by_label("Action").select_option(label="member approved")
    page.get_by_label("By").select_option("coord")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/coordinator/audit?*")
    texts = trail.locator("tbody tr").all_inner_texts()
    assert len(texts) == 2 and all("member approved" in t for t in texts)
    csv_text = page.request.get(page.locator("#audit-csv").get_attribute("href")).text()
    assert csv_text.splitlines()[0] == "id,at,actor,action,subject,detail" and len(csv_text.splitlines()) == 3
    both_sizes(page, screenshot, "audit-trail-filtered")
