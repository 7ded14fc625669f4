"""Pages go through the message catalog: a German reader gets the German the catalog holds (placeholders and plurals
filled in), an English reader the msgids, and a state stored as a code is shown as the reader's word for it.

The German catalog (node/translations/de/LC_MESSAGES/messages.po) already holds these few translations; the others
follow in phase 3, and until then a German page shows those texts in English.
"""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest

from node import i18n, labels
from node.services.review_round import Pairs, RoundProposal, RoundReviewer, solve_round
from tests.node.test_advice import book, post_listing
from tests.node.test_web import csrf, login

# (page, what a German reader sees there, what an English reader sees instead)
PAGES = [
    ("/dashboard", "<h1>Hallo Greta</h1>", "<h1>Hello Greta</h1>"),
    ("/statement", "<h1>Kontoauszug</h1>", "<h1>Statement</h1>"),
    ("/pay", "<h1>Ein Mitglied bezahlen</h1>", "<h1>Pay a member</h1>"),
    ("/proposals", "<h1>Ihre Vorschläge</h1>", "<h1>Your proposals</h1>"),
    ("/advice", "<h1>Beratungsbörse</h1>", "<h1>Advice market</h1>"),
    ("/profile", "<h1>Ihr Profil</h1>", "<h1>Your profile</h1>"),
    ("/coordinator/", "<h1>Übersicht für Koordinator*innen</h1>", "<h1>Coordinator dashboard</h1>"),
]


@pytest.fixture
def greta(app, make_member, token_for):
    """A coordinator who reads German and has booked one advice session with Anna (it waits for her confirmation)."""
    anna, greta = make_member("anna"), make_member("greta", role="coordinator", language="de")
    listing_id = post_listing(app.test_client(), token_for(anna))
    book(app.test_client(), token_for(greta), listing_id)
    return greta, token_for(greta), listing_id


def page(client, path: str, **headers) -> str:
    r = client.get(path, headers=headers)
    assert r.status_code == 200, path
    return r.get_data(as_text=True)


@pytest.mark.parametrize("path, german, english", PAGES)
def test_a_members_saved_language_translates_the_page(app, greta, path, german, english):
    client = app.test_client()
    login(client, greta[0].email)
    html = page(client, path, **{"Accept-Language": "en"})  # the saved language beats the browser's
    assert '<html lang="de">' in html and german in html and english not in html
    assert ">Kontoauszug</a>" in html  # the menu, on every page


def test_the_dashboard_fills_in_numbers_with_the_languages_plural_and_states_as_words(app, greta):
    member, headers, listing_id = greta
    client = app.test_client()
    login(client, member.email)
    html = page(client, "/dashboard")
    assert "1 Beratungsgespräch wartet auf Sie." in html and '<span class="status">gebucht</span>' in html
    book(app.test_client(), headers, listing_id)
    assert "2 Beratungsgespräche warten auf Sie." in page(client, "/dashboard")


def test_a_refusal_names_the_field_by_its_label_in_the_readers_language(app, greta):
    client = app.test_client()
    login(client, greta[0].email)
    form = {
        "title": " ",
        "summary": "S",
        "full_text": "F",
        "tags": ["education"],
        "language": "de",
        "stage": "idea",
        "reviews_wanted": "1",
        "bounty": "1",
        "csrf_token": csrf(client, "/proposals"),
    }
    r = client.post("/proposals", data=form, headers={"Referer": "http://localhost/proposals"})
    assert r.status_code == 303
    html = page(client, "/proposals")  # at the top, and beside the field, which keeps what was typed
    assert 'data-code="missing_field">Titel: Bitte füllen Sie dieses Feld aus.</p>' in html
    assert '<span class="field-error" id="error-title">Titel: Bitte füllen Sie dieses Feld aus.</span>' in html
    assert '<textarea name="summary"' in html and ">\nS</textarea>" in html


def test_the_browsers_language_counts_for_a_member_without_one(app, make_member):
    make_member("hans")
    client = app.test_client()
    login(client, "hans@example.org")
    assert "<h1>Hallo Hans</h1>" in page(client, "/dashboard", **{"Accept-Language": "de-DE,de;q=0.9"})
    html = page(client, "/dashboard", **{"Accept-Language": "en"})
    assert "<h1>Hello Hans</h1>" in html and "0 sessions wait for you." not in html  # no panel line without sessions


@pytest.mark.parametrize("path, german, english", PAGES)
def test_an_english_reader_gets_the_msgids(app, greta, make_member, path, german, english):
    make_member("nora", role="coordinator", language="en")
    client = app.test_client()
    login(client, "nora@example.org")
    html = page(client, path, **{"Accept-Language": "de"})
    assert english.replace("Greta", "Nora") in html and german.replace("Greta", "Nora") not in html


def test_the_statement_shows_the_welcome_grant_in_the_readers_language(app, greta):
    client = app.test_client()
    login(client, greta[0].email)
    html = page(client, "/statement")  # what it is, and who gave it, alike
    found = r'<td data-label="[^"]+">Startguthaben</td>\s*<td data-label="[^"]+">Startguthaben</td>'
    assert re.search(found, html), html


@pytest.mark.parametrize(
    "text, found",
    [
        ("Welcome grant", (labels.WELCOME_GRANT, {})),
        ("Advice session 7 held in escrow", (labels.ADVICE_HELD, {"booking_id": "7"})),
        ("cancelled by anna: ill: very", (labels.CANCELLED_BY_WITH_REASON, {"handle": "anna", "reason": "ill: very"})),
        ("cancelled by anna", (labels.CANCELLED_BY, {"handle": "anna"})),
        ("only 3 allowed reviewers", ("only %(allowed)s allowed reviewers", {"allowed": "3"})),
        ("Welcome grant, thanks", None),
        ("my own memo", None),
    ],
)
def test_a_stored_text_is_recognised_with_its_values(text, found):
    assert labels.parse_written(text) == found


def test_written_and_label_in_the_readers_language(app):
    with app.test_request_context("/", headers={"Accept-Language": "de"}):
        assert labels.written("Welcome grant") == "Startguthaben"
        assert labels.written("Advice session 7 held in escrow") == "Beratungsgespräch 7 treuhänderisch verwahrt"
        assert labels.written("my own memo") == "my own memo"
        assert labels.label("booked", "booking_status") == "gebucht"
        assert labels.label("timed_out", "invitation_status") == "Frist versäumt"
        assert labels.label("someday", "booking_status") == "someday"  # a state without a word: as stored


@pytest.mark.parametrize("msgid", labels.WRITTEN)
def test_every_stored_text_is_recognised_again(msgid):
    params = {name: f"{n + 7}" for n, name in enumerate(re.findall(r"%\((\w+)\)s", msgid))}
    assert labels.parse_written(labels.english(msgid, **params)) == (msgid, params)


def test_what_the_round_solver_reports_is_recognised():
    """Progress and the reasons of unmet constraints are stored as written; each must be shown translated."""
    proposals = [RoundProposal("p1", 2, "BE", need_foreign=True), RoundProposal("p2", 1, "BE")]
    reviewers = [RoundReviewer("r1", 1, min_load=1, country="BE"), RoundReviewer("r2", 2, min_load=2, country="BE")]
    reported = []
    result = solve_round(
        proposals,
        reviewers,
        Pairs.from_triples([("p1", "r1", 5), ("p2", "r2", 3)], proposals, reviewers),
        progress=lambda fraction, message: reported.append(message),
    )
    texts = reported + [u.reason for u in result.unmet]
    assert len(result.unmet) >= 3 and all(labels.parse_written(text) for text in texts), texts


def test_the_unlock_mail_is_in_the_account_owners_language_not_the_guessers(app, ctx, make_member):
    make_member("greta", language="de")
    make_member("nora")  # no language of her own: the node's (en)
    for email, guesser in (("greta@example.org", "en"), ("nora@example.org", "de")):
        for n in range(ctx.settings.login_max_failures):
            r = app.test_client().post(
                "/api/v1/tokens", json={"email": email, "password": f"guess {n}"}, headers={"Accept-Language": guesser}
            )
            assert r.status_code == 401
    mails = {}
    for path in (ctx.settings.data_path / "mail").glob("unlock-*.eml"):
        mail = message_from_bytes(path.read_bytes(), policy=policy.default)
        mails[mail["To"]] = (mail["Subject"], mail["Content-Language"], mail.get_content())
    subject, language, body = mails["greta@example.org"]
    assert (subject, language) == ("[SIF node] Ohne Wartezeit anmelden", "de")
    subject, language, body = mails["nora@example.org"]
    assert (subject, language) == ("[SIF node] Log in without waiting", "en") and "within 60 minutes;" in body


def test_a_peer_nodes_request_is_answered_in_english(app):
    """What a peer carries back (a bounce's reason, a refusal) is read on another node."""
    with app.test_request_context("/federation/v1/inbox", headers={"Accept-Language": "de"}):
        assert i18n.select_language() == "en" and labels.label("booked", "booking_status") == "booked"
    with app.test_request_context("/api/v1/me", headers={"Accept-Language": "de"}):
        assert i18n.select_language() == "de"
