"""In a real browser, on a desktop and at 390 px: booking an adviser's offer, the adviser accepting one booking and
declining another with a reason, the booker confirming after the session and giving feedback, and the adviser's
profile showing it. Screenshots of each step."""

from __future__ import annotations

import pytest

from tests.browser.test_members_web import both_sizes, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def node(node_process):
    """Anna offers advice (2 SIF an hour) and is listed in the member directory; Bert has his welcome grant."""
    node = node_process("be-vl", node_name="SIF Flanders")
    coordinator = node.coordinator()
    anna, bert = node.new_member("anna", coordinator), node.new_member("bert", coordinator)
    anna.call("PATCH", "/me", {"in_directory": True}, expect=200)
    offer = {"kind": "offer", "title": "Crowdfunding basics", "rate": 2, "tags": []}
    listing = anna.call("POST", "/advice/listings", offer, expect=201).json()
    return node, anna, bert, listing["id"]


def book(page, listing_id: int, hours: int) -> None:
    page.goto(f"/advice/listings/{listing_id}")
    page.get_by_label("Hours").fill(str(hours))
    page.get_by_role("button", name="Book and pay into escrow").click()
    page.wait_for_url("**/advice/sessions")


def test_book_accept_decline_confirm_and_feedback(node, new_page, screenshot):
    node, anna, bert, listing_id = node
    start, anna_start = bert.balance(), anna.balance()
    booker = new_page(node.url)
    log_in(booker, "bert@example.org")
    book(booker, listing_id, 2)
    assert "Anna will accept or decline it" in booker.locator("p.flash.info").inner_text()
    assert "Waiting for Anna to accept." in booker.locator("main").inner_text()
    book(booker, listing_id, 1)
    assert bert.balance() == start - 6  # both held in escrow at once
    both_sizes(booker, screenshot, "booked")

    adviser = new_page(node.url)
    log_in(adviser, "anna@example.org")
    assert adviser.locator(".advice-open .badge").count() == 2  # both wait for her on the dashboard
    adviser.goto("/advice/sessions")
    sessions = adviser.locator("section.card")
    newest, first = sessions.nth(0), sessions.nth(1)  # newest first: the one-hour booking
    newest.get_by_label("Reason for declining").fill("I am away that week")
    newest.get_by_role("button", name="Decline").click()
    adviser.wait_for_url("**/advice/sessions")
    assert bert.balance() == start - 4  # the declined hour's 2 SIF are back, once
    first.get_by_role("button", name="Accept the booking").click()
    adviser.wait_for_url("**/advice/sessions")
    assert "Booking accepted" in adviser.locator("p.flash.info").inner_text()
    both_sizes(adviser, screenshot, "accepted-and-declined")

    booker.goto("/advice/sessions")
    assert "declined by anna: I am away that week" in booker.locator("main").inner_text()
    accepted = booker.locator("section.card").nth(1)
    accepted.get_by_role("button", name="Confirm: the session took place").click()
    booker.wait_for_url("**/advice/sessions")
    assert anna.balance() == anna_start + 4
    form = booker.locator("form.feedback-form")
    assert form.count() == 1  # only the session that took place
    form.get_by_label("Rating").select_option("4")
    form.get_by_label("Comment").fill("Clear, practical, and on time")
    form.get_by_role("button", name="Give feedback").click()
    booker.wait_for_url("**/advice/sessions")
    assert "Your feedback: 4 of 5." in booker.locator("main").inner_text()
    assert booker.locator("form.feedback-form").count() == 0
    both_sizes(booker, screenshot, "feedback-given")

    booker.goto("/members/anna")
    section = booker.locator("#advice-feedback")
    assert "Rated 4 of 5 after 1 session." in section.inner_text()
    assert "Clear, practical, and on time" in section.inner_text()
    both_sizes(booker, screenshot, "adviser-profile")
    booker.goto(f"/advice/listings/{listing_id}")
    assert booker.locator("#adviser-rating").inner_text() == "Rated 4 of 5 after 1 session."
