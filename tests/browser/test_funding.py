"""In a real browser, on a desktop and on a 390 px phone: post a funding lead, see it listed beside one shared by a
peer node, follow a topic."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.browser.test_review_cycle import flash, log_in
from tests.federation.conftest import FAST, peer_both, wait_until
from tests.procs import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HUNGARIAN = {
    "title": "Budapest community kitchens fund",
    "url": "https://example.hu/community-kitchens",
    "countries": ["HU", "AT", "SK"],
    "topics": ["food", "social-inclusion"],
    "description": "Start-up grants for kitchens that cook with and for their neighbourhood.",
}


def post_lead(page, title: str, deadline: str) -> None:
    page.goto("/funding")
    form = page.locator("#post-lead")
    form.get_by_label("Title").fill(title)
    form.get_by_label("Link").fill("https://www.vlaio.be/en/subsidies/social-innovation")
    form.locator('input[name="deadline"]').fill(deadline)
    form.locator('input[name="deadline_time"]').fill("17:00")
    form.locator('select[name="countries"]').select_option(["BE", "NL"])
    for topic in ("food", "circular-economy"):
        form.locator(f'input[name="topics"][value="{topic}"]').check()
    form.get_by_label("Short description").fill("Up to 50,000 euro for a first pilot; a partner from a second region.")
    form.get_by_role("button", name="Post the lead").click()
    page.wait_for_url(re.compile(r".*/funding/leads/\d+$"))
    assert "Your funding lead is posted." in flash(page)


def follow_topic(page, topic: str) -> None:
    page.goto("/funding")
    follow = page.locator("#follow")
    follow.locator(f'input[name="topics"][value="{topic}"]').check()
    follow.get_by_role("button", name="Save the topics I follow").click()
    page.wait_for_url("**/funding")
    assert "You follow these topics: food." in flash(page)
    assert page.locator(f'#follow input[value="{topic}"]').is_checked()


def listed(page) -> str:
    page.goto("/funding")
    return page.locator("#leads").inner_text()


def test_post_a_lead_see_it_listed_and_follow_a_topic(node_process, browser, new_page, screenshot):
    be = node_process("be-vl", node_name="SIF Flanders", country="BE", **FAST)
    hu = node_process("hu", node_name="SIF Hungary", country="HU", **FAST)
    peer_both(be, hu)
    far = (datetime.now(UTC) + timedelta(days=45)).strftime("%Y-%m-%d")
    zsofia = hu.new_member("zsofia")
    shared = zsofia.call("POST", "/funding", {**HUNGARIAN, "deadline": far}, expect=201).json()
    hu.coordinator().call("POST", f"/funding/{shared['id']}/network-wide", {"network_wide": True}, expect=200)
    for handle in ("hanne", "pieter"):
        be.new_member(handle)
    wait_until(lambda: be.client().login("hanne@example.org").call("GET", "/funding").json()["total"] == 1)

    desktop = new_page(be.url)
    log_in(desktop, "hanne@example.org", PASSWORD)
    soon = (datetime.now(UTC) + timedelta(days=20)).strftime("%Y-%m-%d")
    post_lead(desktop, "VLAIO social innovation pilots", soon)
    screenshot(desktop, "lead-posted")
    shown = listed(desktop)
    assert shown.index("VLAIO social innovation pilots") < shown.index(HUNGARIAN["title"])  # sooner deadline first
    assert "from Hungary" in shown and "Belgium, Netherlands" in shown and "Hungary, Austria, Slovakia" in shown
    follow_topic(desktop, "food")
    screenshot(desktop, "funding-desktop")

    phone = browser.new_context(
        base_url=be.url, viewport={"width": 390, "height": 844}, locale="en-GB", is_mobile=True, has_touch=True
    )
    try:
        mobile = phone.new_page()
        log_in(mobile, "pieter@example.org", PASSWORD)
        post_lead(mobile, "Antwerp neighbourhood food fund", far)
        screenshot(mobile, "lead-posted-390px")
        shown = listed(mobile)
        assert "VLAIO social innovation pilots" in shown and "Antwerp neighbourhood food fund" in shown
        assert mobile.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
        screenshot(mobile, "funding-390px")
        follow_topic(mobile, "food")
        mobile.goto("/funding?topic=food&country=HU")
        assert HUNGARIAN["title"] in mobile.locator("#leads").inner_text()
        assert "VLAIO" not in mobile.locator("#leads").inner_text()
        screenshot(mobile, "filtered-390px")
    finally:
        phone.close()
