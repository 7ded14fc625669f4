"""In a real browser: sign up, edit the profile, ask for a review, review it as another member, rate it."""

from __future__ import annotations

import re

import pytest

from tests.procs import PASSWORD, NodeClient

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TITLE = "A repair café in every Leuven neighbourhood"
FEEDBACK = "Start with two neighbourhoods and a shared tool library; count the kilos of repaired goods."


def flash(page) -> str:
    return " ".join(page.locator("p.flash").all_inner_texts())


def balance(page) -> str:
    page.goto("/dashboard")
    return (
        page.locator("#balance").inner_text().replace("\xa0", " ")
    )  # |sif joins amount and unit with a no-break space


def log_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/dashboard")


def sign_up(page, node, coordinator) -> None:
    """Sign up in the form, log in while pending, and get approved by the coordinator (API)."""
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
    assert "A coordinator will approve your account" in flash(page)
    log_in(page, "hanne@example.org")
    assert "your account waits for approval" in page.locator("h1").inner_text()  # the waiting page, not forms
    pending = coordinator.call("GET", "/coordinator/dashboard", expect=200).json()["pending"]
    coordinator.approve(next(p["id"] for p in pending if p["email"] == "hanne@example.org"))


def edit_profile(page) -> None:
    page.goto("/profile")
    page.get_by_label("Organisation", exact=True).fill("Repair Café Leuven")
    page.get_by_label("Short bio").fill("Fixing toasters & bikes with neighbours <since 2019>.")
    for tag in ("circular-economy", "community-building"):
        page.locator(f'input[name="expertise"][value="{tag}"]').check()
    for lang in ("nl", "en"):
        page.locator(f'input[name="languages"][value="{lang}"]').check()
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/profile")
    assert "Profile saved." in flash(page)


def ask_for_review(page) -> None:
    page.goto("/proposals")
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Summary").fill("Monthly repair evenings in four neighbourhoods, run by volunteers.")
    page.get_by_label("Full text").fill("We fix 60 items a month in one place and want to reach three more districts.")
    page.locator('input[name="tags"][value="circular-economy"]').check()
    page.get_by_label("Language").select_option("en")
    page.get_by_label("Stage").select_option("pilot")
    page.get_by_label("Reviews wanted").fill("1")
    page.get_by_label("Bounty per review").fill("3")
    page.get_by_role("button", name="Ask for reviews").click()
    page.wait_for_url(re.compile(r".*/proposals/\d+$"))


def write_review(page) -> None:
    page.goto("/reviews")
    card = page.locator("section.card", has_text=TITLE)
    card.get_by_role("button", name="Accept").click()
    page.wait_for_url("**/reviews")
    assert "Invitation accepted." in flash(page)
    card = page.locator("section.card", has_text=TITLE)
    assert card.locator("input[type=radio]:checked").count() == 0  # no score is chosen for the reviewer
    assert "initiative alike" in card.locator("#score-shared_value .hint").inner_text()  # the tenet explained
    for field, score in (("shared_value", "4"), ("social_transformation", "5"), ("impact", "4"), ("confidence", "3")):
        card.locator(f"#score-{field} input[value='{score}']").check()
    card.get_by_label("Written feedback").fill(FEEDBACK)
    card.get_by_role("button", name="Submit review").click()
    page.wait_for_url("**/reviews")
    assert "Review submitted; the bounty is on your account." in flash(page)


def read_and_rate_review(page) -> None:
    page.goto("/proposals")
    page.get_by_role("link", name=TITLE).click()
    assert page.locator("#proposal-status").inner_text() == "completed"
    review = page.locator("article.card", has_text=FEEDBACK)
    assert "By rita" in review.inner_text() and "social transformation 5/5" in review.inner_text()
    review.get_by_label("How helpful was this review?").select_option("5")
    review.get_by_role("button", name="Rate").click()
    assert "Thank you for rating the review." in flash(page)
    assert "You rated it 5/5 for helpfulness." in page.locator("main").inner_text()


def test_a_member_asks_for_a_review_and_a_reviewer_delivers_it(node_process, new_page, screenshot):
    node = node_process("be-vl", node_name="SIF Flanders", require_approval=True)
    coordinator = node.coordinator()
    reviewer = node.new_member("rita", coordinator)
    reviewer.call(
        "PATCH",
        "/me",
        {
            "is_reviewer": True,
            "expertise": ["circular-economy", "community-building"],
            "languages": ["en", "nl"],
            "review_capacity": 2,
            "organisation": "Kringwinkel Hageland",
        },
        expect=200,
    )

    author = new_page(node.url)
    sign_up(author, node, coordinator)
    assert balance(author) == "10 SIF"  # the welcome grant
    screenshot(author, "dashboard-approved")
    edit_profile(author)
    assert author.get_by_label("Organisation", exact=True).input_value() == "Repair Café Leuven"
    assert author.locator('input[name="expertise"][value="community-building"]').is_checked()
    assert author.get_by_label("Short bio").input_value().endswith("<since 2019>.")
    screenshot(author, "profile-saved")

    ask_for_review(author)
    assert "3\xa0SIF are in escrow" in flash(author)  # amounts are written with |sif's no-break space
    assert author.locator("#proposal-status").inner_text() == "open"
    invitations = author.locator("section.card").filter(has=author.get_by_role("heading", name="Invitations"))
    assert "rita" in invitations.inner_text() and "invited" in invitations.inner_text()
    screenshot(author, "proposal-submitted")
    assert balance(author) == "7 SIF"

    rita = new_page(node.url)
    log_in(rita, "rita@example.org")
    assert TITLE in rita.locator("main").inner_text()  # the dashboard lists the invitation
    screenshot(rita, "reviewer-dashboard")
    write_review(rita)
    screenshot(rita, "review-submitted")
    assert balance(rita) == "13 SIF"
    rita.get_by_role("link", name="Proposals").click()
    assert TITLE not in rita.locator("main").inner_text()  # her own proposals only

    read_and_rate_review(author)
    screenshot(author, "review-received-and-rated")
    assert balance(author) == "7 SIF"
    author.goto("/statement")
    assert "Review bounties held" in author.locator("main").inner_text()
    screenshot(author, "statement")

    # What the pages showed is what the node holds.
    assert reviewer.balance() == 13
    assert node.cli("check-books").stdout.strip().endswith("OK")
