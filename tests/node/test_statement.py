"""A member's statement in words: counterparties by name, states that follow the session, days in the member's time
zone, pages by keyset, CSV, the balance chart; web and API alike."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import func, select

from node.services import ledger, statement
from node.tables import AdviceBooking, Posting
from tests.node.test_advice import act, book, post_listing
from tests.node.test_web import login
from tests.page_checks import inline_code

API = "/api/v1"
HOUR = 3600


def pay(client, headers, to: str, amount: int, memo: str = "") -> None:
    r = client.post(f"{API}/transfers", headers=headers, json={"to": to, "amount": amount, "memo": memo})
    assert r.status_code == 201, r.json


def rows(html: str) -> list[list[str]]:
    """The statement table's rows as the text of their cells."""
    body = html[html.index('<table id="statement"') : html.index("</table>", html.index('<table id="statement"'))]
    out = []
    for tr in re.findall(r'<tr class="line-[a-z]+">(.*?)</tr>', body, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)
        out.append([" ".join(re.sub(r"<[^>]+>", " ", c).split()) for c in cells])
    return out


def api_lines(client, headers, **query) -> dict:
    r = client.get(f"{API}/me/statement", headers=headers, query_string=query)
    assert r.status_code == 200, r.json
    return r.json


@pytest.fixture
def people(app, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    return {"anna": (anna, token_for(anna)), "bert": (bert, token_for(bert))}


def test_lines_name_the_other_side_in_words_not_account_names(app, client, people):
    anna_auth, bert_auth = people["anna"][1], people["bert"][1]
    pay(client, anna_auth, "bert", 2, "soup")
    booking = book(client, bert_auth, post_listing(client, anna_auth), hours=1)
    browser = app.test_client()
    login(browser, "bert@example.org")
    html = browser.get("/statement").get_data(as_text=True)
    assert rows(html)[0][1:4] == [
        "Paid into escrow for an advice session with Anna",
        "Escrow for advice session with Anna",
        "held in escrow",
    ]
    assert rows(html)[1][1:4] == ["Payment from Anna soup", "Anna", "completed"]
    assert rows(html)[2][1:3] == ["Welcome grant", "Welcome grant"]
    for internal in ("escrow:advice", "issuance", "member:", f"escrow:advice:{booking['id']}"):
        assert internal not in html
    [anna_line, *_] = api_lines(client, anna_auth)["lines"]
    assert (anna_line["description"], anna_line["counterparty"], anna_line["note"]) == (
        "Payment to Bert",
        "Bert",
        "soup",
    )
    assert (anna_line["status"], anna_line["status_text"], anna_line["amount"]) == ("completed", "completed", -2)


def test_a_paid_session_no_longer_says_held_in_escrow(app, client, ctx, people, books):
    anna_auth, bert_auth = people["anna"][1], people["bert"][1]
    booking = book(client, bert_auth, post_listing(client, anna_auth), hours=2)
    first = api_lines(client, bert_auth)["lines"][0]
    assert (first["kind"], first["status"], first["status_text"]) == ("advice_hold", "held", "held in escrow")
    act(client, bert_auth, booking["id"], "confirm")
    lines = api_lines(client, bert_auth)["lines"]
    hold = next(line for line in lines if line["kind"] == "advice_hold")
    assert (hold["status"], hold["status_text"]) == ("paid", "paid")
    provider = api_lines(client, anna_auth)["lines"][0]
    assert (provider["description"], provider["counterparty"], provider["amount"]) == (
        "Advice session with Bert: paid to you",
        "Bert",
        2,
    )
    browser = app.test_client()
    login(browser, "bert@example.org")
    html = browser.get("/statement").get_data(as_text=True)
    assert "held in escrow" not in html and rows(html)[0][3] == "paid"
    books()


def test_a_cancelled_session_reads_refunded(client, people):
    anna_auth, bert_auth = people["anna"][1], people["bert"][1]
    booking = book(client, bert_auth, post_listing(client, anna_auth), hours=1)
    act(client, bert_auth, booking["id"], "cancel", {"reason": "ill"})
    lines = api_lines(client, bert_auth)["lines"]
    assert [(line["kind"], line["status"]) for line in lines[:2]] == [
        ("advice_refund", "completed"),
        ("advice_hold", "refunded"),
    ]
    assert lines[0]["description"] == "Advice session with Anna: refunded"


def test_a_review_bounty_names_the_proposal_and_never_its_author(app, client, make_member, token_for):
    author = make_member("giulia", display_name="Giulia Rossi")
    reviewer = make_member("rita", is_reviewer=True, languages=["en"], expertise=["education"])
    auth, rita = token_for(author), token_for(reviewer)
    proposal = {
        "title": "Laptops for the library",
        "summary": "Lent by libraries.",
        "full_text": "The plan.",
        "tags": ["education"],
        "language": "en",
        "stage": "pilot",
        "reviews_wanted": 1,
        "bounty": 3,
    }
    created = client.post(f"{API}/proposals", headers=auth, json=proposal).json
    [invitation] = created["invitations"]
    assert client.post(f"{API}/invitations/{invitation['id']}/accept", headers=rita).status_code == 200
    review = {"shared_value": 4, "social_transformation": 3, "impact": 5, "confidence": 4, "feedback": "Good."}
    assert client.post(f"{API}/invitations/{invitation['id']}/review", headers=rita, json=review).status_code == 201
    [bounty, *_] = api_lines(client, rita)["lines"]
    assert (bounty["description"], bounty["counterparty"]) == (
        "Your review of “Laptops for the library”",
        "Review bounty for “Laptops for the library”",
    )
    browser = app.test_client()
    login(browser, "rita@example.org")
    for text in (browser.get("/statement").get_data(as_text=True), api_lines(client, rita)):
        assert "giulia" not in str(text).lower()
    held = next(line for line in api_lines(client, auth)["lines"] if line["kind"] == "review_escrow")
    assert held["counterparty"] == "Escrow for reviews of “Laptops for the library”"
    assert held["status"] == "completed"  # the one review came: the proposal is completed, its escrow paid out


def _spread_payments(ctx, clock, client, auth, hours: list[int]) -> None:
    """One payment of 1 SIF at each of these hours after the start (the clock moves forward only)."""
    done = 0
    for h in hours:
        clock.advance((h - done) * HOUR)
        done = h
        pay(client, auth, "bert", 1, f"h{h}")


def test_days_are_the_members_local_days(app, client, ctx, clock, make_member, token_for):
    # START is 2026-03-02 09:00 UTC; Auckland is UTC+13 then: 11:00 UTC is already 3 March there.
    anna = make_member("anna", time_zone="Pacific/Auckland")
    make_member("bert")
    auth = token_for(anna)
    # 10:00 and 11:00 UTC on the 2nd are 23:00 on the 2nd and midnight on the 3rd there; 11:00 UTC on the 3rd, the 4th.
    _spread_payments(ctx, clock, client, auth, [1, 2, 26])

    def memos(**query) -> list[str]:
        return [line["memo"] for line in api_lines(client, auth, **query)["lines"]]

    assert memos(**{"from": "2026-03-03", "to": "2026-03-03"}) == ["h2"]
    assert memos(to="2026-03-02") == ["h1", "Welcome grant"]
    assert memos(**{"from": "2026-03-04"}) == ["h26"]
    assert memos(**{"from": "2026-03-05"}) == []
    browser = app.test_client()
    login(browser, "anna@example.org")
    html = browser.get("/statement?from=2026-03-03&to=2026-03-03").get_data(as_text=True)
    assert [r[1] for r in rows(html)] == ["Payment to Bert h2"]
    assert 'value="2026-03-03"' in html and "from=2026-03-03" in html  # the filter is kept in the CSV link


@pytest.mark.parametrize(
    "query, code",
    [
        ({"from": "2026-02-30"}, "invalid_date"),
        ({"to": "yesterday"}, "invalid_date"),
        ({"from": "0001-01-01"}, "invalid_date"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "invalid_range"),
        ({"before": "-3"}, "invalid_cursor"),
        ({"limit": "0"}, "out_of_range"),
        ({"limit": "x"}, "not_an_integer"),
    ],
)
def test_a_bad_filter_is_refused_with_a_code(app, client, people, query, code):
    r = client.get(f"{API}/me/statement", headers=people["anna"][1], query_string=query)
    assert r.status_code == 422 and r.json["error"]["code"] == code, r.json
    if "limit" in query:
        return
    browser = app.test_client()
    login(browser, "anna@example.org")
    for path in ("/statement", "/statement.csv") if "before" not in query else ("/statement",):
        page = browser.get(path, query_string=query)
        assert page.status_code == 422 and f"[{code}]" in page.get_data(as_text=True)


@pytest.mark.parametrize("extra", [0, 1, statement.PAGE_SIZE])
def test_pages_meet_without_a_gap_or_a_repeat(app, client, ctx, people, extra):
    """With the welcome grant, PAGE_SIZE - 1 + extra payments: exactly a page, one more, two pages."""
    auth = people["anna"][1]
    with ctx.db.write() as s:  # many small payments at once, straight through the ledger
        anna, bert = ledger.member_accounts(s, people["anna"][0].id, people["bert"][0].id)
        anna.min_balance = -1000
        for n in range(statement.PAGE_SIZE - 1 + extra):
            ledger.post(
                s, kind="transfer", legs=[ledger.Leg(anna, -1), ledger.Leg(bert, 1)], memo=f"p{n}", now=ctx.now()
            )
    with ctx.db.read() as s:
        total = s.execute(select(func.count()).select_from(Posting).where(Posting.account_id == anna.id)).scalar_one()
    browser = app.test_client()
    login(browser, "anna@example.org")
    seen, path = [], "/statement"
    while path:
        html = browser.get(path).get_data(as_text=True)
        page_rows = rows(html)
        assert 0 < len(page_rows) <= statement.PAGE_SIZE
        seen += [r[-1] for r in page_rows]  # the balance after each line: all different here
        found = re.search(r'<a href="([^"]+)" rel="next" id="older">', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert len(seen) == len(set(seen)) == total
    assert [int(b) for b in seen] == sorted((int(b) for b in seen), reverse=False)  # newest (lowest) first
    pages = []
    before = None
    while True:
        got = api_lines(client, auth, limit=statement.PAGE_SIZE, **({"before": before} if before else {}))
        pages.append(len(got["lines"]))
        before = got["next_before"]
        if before is None:
            break
    assert sum(pages) == total and len(pages) == -(-total // statement.PAGE_SIZE)


def test_the_csv_holds_the_filtered_statement_with_integers_and_iso_dates(app, client, ctx, clock, people):
    auth = people["anna"][1]
    _spread_payments(ctx, clock, client, auth, [1, 30])
    pay(client, auth, "bert", 2, '=HYPERLINK("http://evil")')
    browser = app.test_client()
    login(browser, "anna@example.org")
    answer = browser.get("/statement.csv?from=2026-03-03")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    table = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert list(table[0]) == list(statement_csv_header())
    assert [(r["date"], r["amount"], r["balance_after"], r["kind"]) for r in table] == [
        ("2026-03-03", "-2", "6", "transfer"),
        ("2026-03-03", "-1", "8", "transfer"),
    ]
    assert table[0]["time_utc"] == "2026-03-03T15:00:00Z" and table[0]["description"] == "Payment to Bert"
    assert table[0]["note"] == '\'=HYPERLINK("http://evil")'  # a spreadsheet shows it, never runs it
    everything = list(csv.DictReader(io.StringIO(browser.get("/statement.csv").get_data(as_text=True))))
    assert [r["description"] for r in everything][-1] == "Welcome grant" and len(everything) == 4


def statement_csv_header():
    from node.web.member import STATEMENT_CSV_HEADER

    return STATEMENT_CSV_HEADER


def test_the_balance_chart_is_inline_svg_with_a_title_and_a_description(app, client, ctx, clock, people):
    _spread_payments(ctx, clock, client, people["anna"][1], [5, 50])
    browser = app.test_client()
    login(browser, "anna@example.org")
    html = browser.get("/statement").get_data(as_text=True)
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    assert 'role="img"' in svg and "<title>Your balance over time</title>" in svg
    desc = re.search(r"<desc>(.*?)</desc>", svg).group(1)
    assert "your balance went from" in desc and "8\xa0SIF" in desc and "lowest" in desc
    assert "<polyline" in svg and inline_code(html) == []
    german = browser.get("/statement", headers={"Accept-Language": "de"})
    assert german.status_code == 200  # the dates of the chart in the page's language: no error in any


def test_the_statement_needs_a_token_or_a_login(app, client):
    assert client.get(f"{API}/me/statement").status_code == 401
    assert client.get("/statement").status_code == 302 and client.get("/statement.csv").status_code == 302


def test_the_escrow_line_follows_a_dispute_to_a_split(app, client, ctx, make_member, token_for, books):
    anna, bert, coord = make_member("anna"), make_member("bert"), make_member("coord", role="coordinator")
    booking = book(client, token_for(bert), post_listing(client, token_for(anna), rate=2), hours=2)
    act(client, token_for(anna), booking["id"], "claim")
    act(client, token_for(bert), booking["id"], "dispute", {"reason": "half of it"})
    r = client.post(
        f"{API}/coordinator/bookings/{booking['id']}/resolve",
        headers=token_for(coord),
        json={"outcome": "split", "provider_amount": 3, "note": "half"},
    )
    assert r.status_code == 200, r.json
    with ctx.db.read() as s:
        assert s.get(AdviceBooking, booking["id"]).status == "split"
    lines = api_lines(client, token_for(bert))["lines"]
    assert [(line["kind"], line["status"], line["amount"]) for line in lines[:2]] == [
        ("advice_split", "completed", 1),
        ("advice_hold", "split", -4),
    ]
    assert lines[0]["description"] == "Advice session with Anna: your part back after a dispute"
    books()
