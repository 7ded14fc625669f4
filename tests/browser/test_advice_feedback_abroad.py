"""In a real browser, on a desktop and at 390 px, across two real nodes: after a session booked abroad took place, the
Austrian booker leaves feedback on her sessions page; it reaches the Italian adviser's profile and offer rating on her
own node, and the adviser's feedback reaches the booker. Screenshots of each step."""

from __future__ import annotations

import pytest

from tests.browser.test_advice_abroad import eventually, nodes  # noqa: F401  (fixture)
from tests.browser.test_members_web import both_sizes, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def held_session(at, it, giulia, lena) -> None:
    """Lena books Giulia's shared offer for an hour, Giulia accepts, Lena confirms: the session took place."""
    listings: list = []

    def shared() -> bool:
        listings[:] = [x for x in lena.call("GET", "/advice/listings", expect=200).json()["listings"] if x["abroad"]]
        return bool(listings)

    eventually(shared, "the shared offer in Austria's market")
    mine = lena.call("POST", f"/advice/listings/{listings[0]['id']}/book", {"hours": 1}, expect=201).json()
    theirs: list = []

    def arrived() -> bool:
        theirs[:] = giulia.call("GET", "/advice/abroad", expect=200).json()["bookings"]
        return bool(theirs)

    eventually(arrived, "the booking on the adviser's node")
    giulia.call("POST", f"/advice/abroad/{theirs[0]['id']}/accept", expect=200)
    eventually(
        lambda: lena.call("GET", f"/advice/abroad/{mine['id']}", expect=200).json()["accepted_at"] is not None,
        "the acceptance at home",
    )
    lena.call("POST", f"/advice/abroad/{mine['id']}/confirm", expect=200)
    eventually(lambda: giulia.balance() == 12, "the adviser paid at home")


def test_feedback_on_a_session_abroad_reaches_the_advisers_profile(nodes, new_page, screenshot):
    at, it, giulia, lena = nodes
    giulia.call("PATCH", "/me", {"in_directory": True}, expect=200)
    held_session(at, it, giulia, lena)

    booker = new_page(at.url)
    log_in(booker, "lena@example.org")
    booker.goto("/advice/sessions")
    form = booker.locator("form.feedback-form")
    assert "How was the advice of Giulia Rossi?" in form.inner_text()
    both_sizes(booker, screenshot, "abroad-feedback-form")
    form.get_by_label("Rating").select_option("5")
    form.get_by_label("Comment").fill("Clear and practical: our campaign starts next month.")
    form.get_by_role("button", name="Give feedback").click()
    booker.wait_for_url("**/advice/sessions")
    assert "Thank you: your feedback is saved." in booker.locator("p.flash.info").inner_text()
    assert "Your feedback: 5 of 5." in booker.locator("main").inner_text()
    assert booker.locator("form.feedback-form").count() == 0
    both_sizes(booker, screenshot, "abroad-feedback-given")

    adviser = new_page(it.url)
    log_in(adviser, "giulia@example.org")

    def on_profile() -> bool:
        adviser.goto("/members/giulia")
        return "Clear and practical" in adviser.locator("main").inner_text()

    eventually(on_profile, "the booker's feedback on the adviser's profile")
    assert "Rated 5 of 5 after 1 session." in adviser.locator("#advice-feedback").inner_text()
    assert "Lena" in adviser.locator("#advice-feedback").inner_text()
    both_sizes(adviser, screenshot, "abroad-feedback-profile")

    adviser.goto("/advice/sessions")
    assert "Feedback you received: 5 of 5." in adviser.locator("main").inner_text()
    form = adviser.locator("form.feedback-form")
    form.get_by_label("Rating").select_option("4")
    form.get_by_label("Comment").fill("Well prepared")
    form.get_by_role("button", name="Give feedback").click()
    adviser.wait_for_url("**/advice/sessions")
    assert "Your feedback: 4 of 5." in adviser.locator("main").inner_text()

    def received_at_home() -> bool:
        booker.goto("/advice/sessions")
        return "Feedback you received: 4 of 5." in booker.locator("main").inner_text()

    eventually(received_at_home, "the adviser's feedback at home")
    both_sizes(booker, screenshot, "abroad-feedback-received")
