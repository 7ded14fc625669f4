"""In a real browser, on a desktop and on a 390 px phone: find a member by expertise in the directory, open their
profile, send them a message; they see it (the menu counts it), read it and answer; the sender reads the answer."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_review_cycle import flash, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

QUESTION = "Hello Rita, could you look at our repair café's <volunteer> plan? Tuesday or Thursday?"
ANSWER = "Gladly! Thursday at 10 works for me.\nBring the insurance questions too."
VIEWPORTS = {"desktop": {}, "phone": {"width": 390, "height": 844, "mobile": True}}


def no_sideways_scroll(page) -> None:
    """Nothing sticks out on the right: a phone never has to scroll sideways."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def open_menu_link(page, name: str) -> None:
    page.locator("header nav").get_by_role("link", name=re.compile(rf"^{name}")).click()


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_find_a_member_by_expertise_write_and_get_an_answer(node_process, new_page, screenshot, viewport):
    node = node_process("be-vl", node_name="SIF Flanders", require_approval=True)
    coordinator = node.coordinator()
    rita = node.new_member("rita", coordinator)
    rita.call(
        "PATCH",
        "/me",
        {
            "display_name": "Rita Maes",
            "organisation": "Kringwinkel Hageland",
            "bio": "Twenty years of second-hand shops.",
            "expertise": ["circular-economy", "governance"],
            "languages": ["nl", "en"],
            "country": "BE",
            "in_directory": True,
            "show_organisation": True,
        },
        expect=200,
    )
    other = node.new_member("otto", coordinator)  # listed, with other expertise: not in the results
    other.call("PATCH", "/me", {"display_name": "Otto Other", "expertise": ["food"], "in_directory": True}, expect=200)
    hidden = node.new_member("hidden", coordinator)  # the same expertise but not listed: never shown
    hidden.call("PATCH", "/me", {"display_name": "Hidden Hanne", "expertise": ["circular-economy"]}, expect=200)
    node.new_member("sam", coordinator).call("PATCH", "/me", {"display_name": "Sam Sender"}, expect=200)
    size = VIEWPORTS[viewport]

    sam = new_page(node.url, **size)
    log_in(sam, "sam@example.org")
    open_menu_link(sam, "Members")
    sam.wait_for_url("**/members")
    sam.get_by_label("Expertise").select_option("circular-economy")
    sam.get_by_role("button", name="Search").click()
    sam.wait_for_url(re.compile(r".*/members\?.*expertise=circular-economy"))
    results = sam.locator("#people")
    assert "Rita Maes" in results.inner_text() and "Kringwinkel Hageland" in results.inner_text()
    assert "Otto" not in results.inner_text() and "Hidden" not in sam.locator("main").inner_text()
    no_sideways_scroll(sam)
    screenshot(sam, f"{viewport}-directory-by-expertise")

    results.get_by_role("link", name="Rita Maes").click()
    sam.wait_for_url("**/members/rita")
    profile = sam.locator("#member-profile").inner_text()
    assert "Kringwinkel Hageland" in profile and "circular economy" in profile
    assert "Twenty years" not in profile  # her bio is not shown: she did not choose to
    no_sideways_scroll(sam)
    screenshot(sam, f"{viewport}-profile")

    sam.get_by_role("link", name="Send a message").click()
    sam.wait_for_url("**/messages/to/rita")
    sam.get_by_label("Message").fill(QUESTION)
    sam.get_by_role("button", name="Send").click()
    sam.wait_for_url(re.compile(r".*/messages/\d+$"))
    assert "Message sent." in flash(sam)
    assert QUESTION in sam.locator("#messages").inner_text()
    thread_url = sam.url
    no_sideways_scroll(sam)
    screenshot(sam, f"{viewport}-message-sent")

    rita_page = new_page(node.url, **size)
    log_in(rita_page, "rita@example.org")
    badge = rita_page.locator("header nav a", has_text="Messages").locator(".badge")
    assert badge.inner_text() == "1"
    assert "1 conversation has unread messages." in rita_page.locator("main").inner_text()
    screenshot(rita_page, f"{viewport}-recipient-dashboard")
    open_menu_link(rita_page, "Messages")
    rita_page.wait_for_url("**/messages")
    inbox = rita_page.locator("#threads").inner_text()
    assert "Sam Sender" in inbox and "1 unread" in inbox
    screenshot(rita_page, f"{viewport}-recipient-inbox")
    rita_page.locator("#threads").get_by_role("link", name="Sam Sender").click()
    rita_page.wait_for_url(thread_url)
    assert QUESTION in rita_page.locator("#messages").inner_text()  # the <volunteer> stays text
    rita_page.get_by_label("Your answer").fill(ANSWER)
    rita_page.get_by_role("button", name="Send").click()
    rita_page.wait_for_url(re.compile(r".*/messages/\d+(#reply)?$"))
    assert "Message sent." in flash(rita_page)
    assert rita_page.locator("header nav a", has_text="Messages").locator(".badge").count() == 0
    no_sideways_scroll(rita_page)
    screenshot(rita_page, f"{viewport}-recipient-replied")

    sam.goto("/messages")
    assert "Rita Maes" in sam.locator("#threads").inner_text() and "1 unread" in sam.locator("#threads").inner_text()
    sam.goto(thread_url)
    texts = sam.locator("#messages li.message .body").all_inner_texts()
    assert texts == [QUESTION, ANSWER]
    screenshot(sam, f"{viewport}-answer-read")

    # What the pages showed is what the node holds; the mail for rita went out through the sweep's folder.
    threads = rita.call("GET", "/messages/threads", expect=200).json()["threads"]
    assert [(t["other"]["handle"], t["unread"]) for t in threads] == [("sam", 0)]
