"""Every node speaks its members' language, in a real Chromium on the devnet: sign-up and paying in Dutch on
be-vl, the dashboard in German on at, a review invitation from Italy read in Hungarian on hu, and the directory
in Dutch, German and Hungarian; `lang` follows, headings come from the catalogs, times are local.

Expected texts are read from the compiled catalogs (node/translations), so the test checks that pages go
through them, and that each is really translated (not the English msgid). Screenshots in
test-artifacts/browser/languages/.
"""

from __future__ import annotations

import re
import time
from zoneinfo import ZoneInfo

import pytest
import requests

from node import formats
from node.demo import DEMO_PASSWORD, demo_email
from node.i18n import translations
from tests.procs import mailed_link_in_folder

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def tr(language: str, msgid: str, **values) -> str:
    """The catalog's text for a msgid, checked to be a real translation."""
    text = translations(language).gettext(msgid)
    assert text != msgid, f"{msgid!r} has no {language} translation"
    return text % values if values else text


def api(url: str, email: str, password: str = DEMO_PASSWORD) -> requests.Session:
    http = requests.Session()
    token = http.post(f"{url}/api/v1/tokens", json={"email": email, "password": password}, timeout=30)
    assert token.status_code == 201, token.text
    http.headers["Authorization"] = f"Bearer {token.json()['token']}"
    return http


def wait_for(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)
    return value


def h1(page) -> str:
    return page.locator("h1").first.inner_text().strip()


def log_in(page, email: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/dashboard")


def test_sign_up_and_pay_in_dutch_with_times_in_brussels(devnet, new_page, screenshot):
    node = devnet.nodes["be-vl"]
    page = new_page(node.url, locale="nl-BE")  # a Flemish browser
    page.goto("/signup")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert h1(page) == tr("nl", "Sign up")
    page.fill("input[name=email]", "lien@example.org")
    page.fill("input[name=display_name]", "Lien Claes")
    page.fill("input[name=handle]", "lien")
    page.fill("input[name=password]", "een lang wachtwoord")
    screenshot(page, "nl-signup")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/login")
    page.goto("/signup/confirm/" + mailed_link_in_folder(node.data_dir, "lien@example.org", "/signup/confirm/"))
    page.locator("main form button[type=submit]").click()  # the mailed link's page: make the account
    page.wait_for_url("**/login")
    coordinator = api(node.url, node.coordinator_email)
    pending = coordinator.get(f"{node.url}/api/v1/coordinator/dashboard", timeout=30).json()["pending"]
    member_id = next(p["id"] for p in pending if p["email"] == "lien@example.org")
    assert (
        coordinator.post(
            f"{node.url}/api/v1/coordinator/members/{member_id}/approve", json={"reason": "ok"}, timeout=30
        ).status_code
        == 200
    )
    log_in(page, "lien@example.org", "een lang wachtwoord")
    assert page.locator("html").get_attribute("lang") == "nl"
    assert h1(page) == tr("nl", "Hello %(name)s", name="Lien Claes")
    page.goto("/pay")
    assert h1(page) == tr("nl", "Pay a member")
    page.fill("input[name=to]", "lotte")
    page.fill("input[name=amount]", "2")
    page.fill("input[name=memo]", "koffie")
    page.locator("main form button[type=submit]").click()
    page.wait_for_url("**/statement**")
    assert h1(page) == tr("nl", "Statement")
    lien = api(node.url, "lien@example.org", "een lang wachtwoord")
    statement = lien.get(f"{node.url}/api/v1/me/statement", timeout=30).json()
    paid_at = next(line["at"] for line in statement["lines"] if line["memo"] == "koffie")
    local = formats.format_when(paid_at, "nl", ZoneInfo("Europe/Brussels"))
    assert local in page.locator("main").inner_text(), f"{local} (Brussels time, Dutch format) not on the page"
    screenshot(page, "nl-statement")


def test_the_dashboard_and_pay_page_in_german(devnet, new_page, screenshot):
    node = devnet.nodes["at"]
    page = new_page(node.url, locale="de-AT")
    log_in(page, demo_email("lena", "at"))
    assert page.locator("html").get_attribute("lang") == "de"
    assert h1(page) == tr("de", "Hello %(name)s", name="Lena Gruber")
    screenshot(page, "de-dashboard")
    page.goto("/pay")
    assert h1(page) == tr("de", "Pay a member")
    assert page.locator("label", has_text=tr("de", "Memo")).count() == 1
    screenshot(page, "de-pay")


def _invited(node, handles: list[str]) -> tuple[str, dict] | None:
    for handle in handles:
        rows = (
            api(node.url, demo_email(handle, node.spec.id))
            .get(f"{node.url}/api/v1/remote-invitations", timeout=30)
            .json()["invitations"]
        )
        found = [row for row in rows if row["title"] == "Cucine solidali in ogni quartiere"]
        if found:
            return handle, found[0]
    return None


def test_a_review_invitation_from_italy_reads_in_hungarian_with_budapest_times(devnet, new_page, screenshot):
    it, hu = devnet.nodes["it"], devnet.nodes["hu"]
    author = api(it.url, demo_email("giulia", "it"))
    peers = api(it.url, it.coordinator_email).get(f"{it.url}/api/v1/federation/pools", timeout=30).json()["peers"]
    pools = {p["peer"]: [r["handle"] for r in p["reviewers"]] for p in peers}
    assert pools.get("hu"), "hu shares no reviewer with it"
    for peer, handles in pools.items():  # the foreign reviewer must come from Hungary: conflicts with the others
        for handle in handles if peer != "hu" else ():
            declared = author.post(
                f"{it.url}/api/v1/remote-conflicts",
                timeout=30,
                json={"remote_reviewer": f"{handle}@{peer}", "reason": "test: Hungary only"},
            )
            assert declared.status_code == 201, declared.text
    created = author.post(
        f"{it.url}/api/v1/proposals",
        timeout=30,
        json={
            "title": "Cucine solidali in ogni quartiere",
            "summary": "Cucine di comunità aperte a tutti.",
            "full_text": "Il piano completo.",
            "tags": ["food"],
            "language": "it",
            "stage": "pilot",
            "reviews_wanted": 1,
            "bounty": 2,
            "min_foreign_reviewers": 1,
        },
    )
    assert created.status_code == 201, created.text
    handles = ["anna", "peter", "zsofia", "bence", "eszter", "gabor"]
    handle, invitation = wait_for(lambda: _invited(hu, handles), 60, "the invitation on a Hungarian reviewer's page")
    page = new_page(hu.url, locale="hu-HU")
    log_in(page, demo_email(handle, "hu"))
    assert page.locator("html").get_attribute("lang") == "hu"
    page.goto("/reviews")
    page.locator("a", has_text="Cucine solidali in ogni quartiere").first.click()
    budapest = ZoneInfo("Europe/Budapest")
    accept_by = formats.format_when(invitation["accept_by"], "hu", budapest)
    text = page.locator("main").inner_text()
    assert accept_by in text, f"{accept_by} (Budapest time, Hungarian format) not on the invitation page"
    assert tr("hu", "Accept") in text
    screenshot(page, "hu-invitation")


@pytest.mark.parametrize("language", ["nl", "de", "hu"])
def test_the_directory_switches_language(devnet, new_page, screenshot, language):
    page = new_page(devnet.directory.url)
    page.goto("/")
    assert page.locator("html").get_attribute("lang") == "en"
    page.locator(f".lang-switch button[lang={language}]").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == language
    assert h1(page) == tr(language, "The SIF network")
    assert re.search(r"\d", page.locator("#nodes").inner_text())  # the table is there, in any language
    screenshot(page, f"{language}-directory")
