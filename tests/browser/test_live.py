"""In a real browser, without reloading: a payment made through the API changes the open dashboard (balance, a
notice, the unread count), and an accepted invitation from abroad shows its full text once it arrives; on a
desktop and on a phone (390 px), with screenshots of each."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.federation.reviewnet import propose, reviewer, start_nodes, wait_in_pool, wait_incoming
from tests.procs import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844, "mobile": True}
# Set on the page before the change: still there afterwards, so the page was not loaded again.
MARK = "() => { window.sifnetMark = 'no reload'; }"
MARKED = "() => window.sifnetMark"


def log_in(page, email: str) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def open_dashboard(new_page, url: str, email: str, **size):
    page = new_page(url, **size)
    log_in(page, email)
    page.evaluate(MARK)
    return page


def sif(amount: int) -> str:
    return f"{amount}\xa0SIF"


def test_a_payment_changes_the_open_dashboard(node_process, new_page, screenshot):
    node = node_process("be-vl", require_approval=False, welcome_grant=20)
    anna = node.new_member("anna")
    node.new_member("bert")
    desktop = open_dashboard(new_page, node.url, "bert@example.org")
    phone = open_dashboard(new_page, node.url, "bert@example.org", **PHONE)
    expect(desktop.locator("#balance")).to_have_text(sif(20))
    assert desktop.locator("#nav-notes .count").count() == 0  # nothing unread yet

    assert anna.transfer("bert", 3, "Soup for the repair evening").status_code == 201

    for page in (desktop, phone):
        expect(page.locator("#balance")).to_have_text(sif(23))
        expect(page.locator(".toast")).to_contain_text(f"You received {sif(3)} from anna@be-vl")
        expect(page.locator("#nav-notes .count")).to_have_text("1")
        assert page.locator("#nav-notes").get_attribute("aria-label") == "Notifications, 1 unread"
        expect(page.locator("#dashboard-notes li").first).to_contain_text("Soup for the repair evening")
        assert page.evaluate(MARKED) == "no reload"
    screenshot(desktop, "payment-desktop")
    screenshot(phone, "payment-390px")
    toast = phone.locator(".toast").first
    box = toast.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390  # on the phone's screen
    toast.get_by_role("button", name="Close").click()
    expect(phone.locator(".toast")).to_have_count(0)

    assert anna.transfer("bert", 2, "Bike lights").status_code == 201  # a second one adds up, still in place
    expect(desktop.locator("#balance")).to_have_text(sif(25))
    expect(desktop.locator("#nav-notes .count")).to_have_text("2")
    assert desktop.evaluate(MARKED) == "no reload"


def test_the_full_text_appears_on_the_accepted_invitation(node_process, new_page, screenshot):
    nodes = start_nodes(node_process, "it", "hu")
    proposer, host = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(host, "zsofia", ["education"])
    wait_in_pool(proposer, "hu", profile["pseudonym"])
    author = proposer.new_member("giulia")
    propose(author, tags=["education"], full_text="Refurbished laptops in twelve branch libraries, lent for a month.")
    incoming = wait_incoming(zsofia)["id"]
    proposer.stop()  # the acceptance waits in hu's outbox: the page shows that the text is on its way

    pages = []
    for size in ({}, PHONE):
        page = new_page(host.url, **size)
        log_in(page, "zsofia@example.org")
        page.goto(f"/reviews/abroad/{incoming}")
        pages.append(page)
    desktop, phone = pages
    desktop.get_by_role("button", name="Accept").click()
    desktop.wait_for_url(re.compile(rf".*/reviews/abroad/{incoming}$"))
    phone.reload()  # the phone was drawn before the acceptance; from here on neither page reloads
    for page in pages:
        expect(page.locator("#waiting-for-text")).to_be_visible()
        expect(page.locator("#waiting-for-text a")).to_have_text("Refresh")  # without script: a link does it
        page.evaluate(MARK)
    screenshot(desktop, "waiting-desktop")
    screenshot(phone, "waiting-390px")

    proposer.start()  # hu delivers the acceptance, it answers with the full text

    for page in pages:
        expect(page.locator("#full-text")).to_contain_text("twelve branch libraries", timeout=60000)
        expect(page.locator("#waiting-for-text")).to_have_count(0)
        expect(page.locator('input[name="shared_value"]').first).to_be_attached()  # the review form came with it
        assert page.evaluate(MARKED) == "no reload"
    screenshot(desktop, "full-text-desktop")
    screenshot(phone, "full-text-390px")
