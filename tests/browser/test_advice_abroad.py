"""In a real browser, on a desktop and at 390 px, across two real nodes: an Austrian member finds an Italian adviser's
shared offer in the market (marked with the country), books it, the adviser accepts on her own node, the booker
confirms and the adviser is paid at home. Screenshots of each step."""

from __future__ import annotations

import time

import pytest

from deploy.processes import peer_both
from tests.browser.test_members_web import both_sizes, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
FAST = {"retry_base_seconds": 1, "retry_max_seconds": 4, "sweep_seconds": 1, "require_approval": False}


def eventually(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def nodes(node_process):
    """Austria and Italy, peered; Giulia in Italy shares an offer with other countries (2 SIF an hour)."""
    at = node_process("at", country="AT", node_name="SIF Austria", **FAST)
    it = node_process("it", country="IT", node_name="SIF Italia", **FAST)
    peer_both(at, it)
    giulia, lena = it.new_member("giulia"), at.new_member("lena")
    giulia.call("PATCH", "/me", {"display_name": "Giulia Rossi"}, expect=200)
    offer = {"kind": "offer", "title": "Crowdfunding for a repair café", "rate": 2, "network_wide": True}
    giulia.call("POST", "/advice/listings", offer, expect=201)
    return at, it, giulia, lena


def test_book_an_adviser_abroad_accept_and_confirm(nodes, new_page, screenshot):
    at, it, giulia, lena = nodes
    pseudonym = giulia.me()["pseudonym"]
    booker = new_page(at.url)
    log_in(booker, "lena@example.org")

    def offer_listed() -> bool:
        booker.goto("/advice")
        return booker.locator("#listings .abroad").count() > 0

    eventually(offer_listed, "the shared offer in Austria's market")
    assert booker.locator("#listings .abroad").inner_text() == f"{pseudonym} (Italy)"
    both_sizes(booker, screenshot, "abroad-market")

    booker.get_by_role("link", name="Crowdfunding for a repair café").click()
    assert "a member of the network in Italy" in booker.locator("main").inner_text()
    assert "Booking sends your name to that node" in booker.locator("#book").inner_text()
    both_sizes(booker, screenshot, "abroad-offer")
    booker.get_by_label("Hours").fill("2")
    booker.get_by_role("button", name="Book and pay into escrow").click()
    booker.wait_for_url("**/advice/sessions")
    assert "Booked abroad" in booker.locator("p.flash.info").inner_text()
    assert "across the border: Italy" in booker.locator("main").inner_text()
    assert lena.balance() == 6  # held at home at once
    both_sizes(booker, screenshot, "abroad-booked")

    adviser = new_page(it.url)
    log_in(adviser, "giulia@example.org")

    def booking_arrived() -> bool:
        adviser.goto("/advice/sessions")
        return adviser.get_by_role("button", name="Accept the booking").count() > 0

    eventually(booking_arrived, "the booking on the adviser's sessions page")
    assert "Lena" in adviser.locator("main").inner_text() and "Austria" in adviser.locator("main").inner_text()
    both_sizes(adviser, screenshot, "abroad-adviser-asked")
    adviser.get_by_role("button", name="Accept the booking").click()
    adviser.wait_for_url("**/advice/sessions")
    assert "Booking accepted" in adviser.locator("p.flash.info").inner_text()

    def accepted_at_home() -> bool:
        booker.goto("/advice/sessions")
        return "Giulia Rossi" in booker.locator("main").inner_text()

    eventually(accepted_at_home, "the adviser's name at home")
    booker.get_by_role("button", name="Confirm: the session took place").click()
    booker.wait_for_url("**/advice/sessions")
    assert "confirmed" in booker.locator("main").inner_text()
    both_sizes(booker, screenshot, "abroad-confirmed")
    eventually(lambda: giulia.balance() == 14, "the adviser paid at home")
    adviser.goto("/advice/sessions")
    assert "confirmed" in adviser.locator("main").inner_text()
    both_sizes(adviser, screenshot, "abroad-adviser-paid")
