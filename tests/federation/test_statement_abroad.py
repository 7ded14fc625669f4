"""Cross-border lines of a member's statement: the country in the reader's language, a payment's state from pending to
completed or returned, and a review bounty from abroad that names the proposal, never who wrote it (in process, and
between real nodes); a member's data export holds their payments abroad and what peers were sent about them."""

from __future__ import annotations

import csv
import io
import re
from types import SimpleNamespace

import pytest
import requests

from federation.payments import transfers
from federation.reviews import reviewer_side
from federation.reviews.proposer_side import BOUNTY_PAYER, bounty_transfer_id
from federation.state import federation_of
from federation.tables import Peer, PoolShare
from node.tables import Member
from tests.node.test_web import csrf, login
from tests.procs import PASSWORD

from .conftest import wait_until
from .reviewnet import REVIEW, propose, reviewer, start_nodes, wait_in_pool, wait_incoming

API = "/api/v1"
TITLE = "Laptops for the library"
AUTHOR = ("giulia", "Giulia Rossi")  # the proposer abroad: never on the reviewer's statement


def _peer(ctx, node_id: str, country: str) -> None:
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id=node_id,
                name=f"SIF {country}",
                base_url="http://127.0.0.1:9",
                country=country,
                fingerprint="x",
                status="active",
                created_at=ctx.now(),
            )
        )


def _apply(app, handler, peer_id: str, body: dict) -> None:
    """Apply an entry from a peer as the inbox would (the handler in the receiver's transaction)."""
    ctx, fed = app.extensions["sifnet"], federation_of(app)
    with ctx.db.write() as s:
        handler(s, fed, s.get(Peer, peer_id), SimpleNamespace(body=body), ctx.now())


def _statement(client, headers, **query) -> list[dict]:
    r = client.get(f"{API}/me/statement", headers=headers, query_string=query)
    assert r.status_code == 200, r.json
    return r.json["lines"]


def test_a_payment_abroad_is_pending_then_completed_or_returned(app, client, ctx, make_member, token_for, books):
    anna = make_member("anna", language="de")
    _peer(ctx, "hu", "HU")
    fed, auth = federation_of(app), token_for(anna)
    ids = []
    for amount in (2, 3):
        with ctx.db.write() as s:
            payer = s.get(Member, anna.id)
            ids.append(
                transfers.send_transfer(s, fed, payer=payer, to="zoltan@hu", amount=amount, memo="soup", now=ctx.now())
            )
    lines = _statement(client, {**auth, "Accept-Language": "en"})
    assert [(line["amount"], line["status"]) for line in lines[:2]] == [(-3, "pending"), (-2, "pending")]
    assert lines[0]["description"] == "Payment to zoltan@hu" and lines[0]["counterparty"] == "Cross-border: Hungary"
    assert lines[0]["note"] == "soup" and "position:hu" not in str(lines)
    _apply(app, transfers.apply_receipt, "hu", {"transfer_id": ids[0]})
    _apply(app, transfers.apply_bounce, "hu", {"transfer_id": ids[1], "reason_code": "unknown_payee", "reason": "no"})
    lines = _statement(client, {**auth, "Accept-Language": "en"})
    assert [(line["kind"], line["amount"], line["status"]) for line in lines[:3]] == [
        ("cross_border_bounce", 3, "returned"),
        ("cross_border_out", -3, "returned"),
        ("cross_border_out", -2, "completed"),
    ]
    assert lines[0]["description"] == "Payment to zoltan@hu returned"
    browser = app.test_client()
    login(browser, "anna@example.org")
    page = browser.get("/statement").get_data(as_text=True)  # her saved language: German
    assert "Ungarn" in page and "Hungary" not in page  # the country's name comes from Babel's locale data
    books()


def test_the_export_holds_payments_abroad_and_what_each_peer_was_sent(app, client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    _peer(ctx, "hu", "HU")
    with ctx.db.write() as s:
        payer = s.get_one(Member, anna.id)
        sent = transfers.send_transfer(
            s, federation_of(app), payer=payer, to="zoltan@hu", amount=2, memo="soup", now=ctx.now()
        )
        records = {payer.pseudonym: {"handle": payer.pseudonym, "open_slots": 2}, "someone-else": {"open_slots": 1}}
        s.add(PoolShare(peer_id="hu", records=records, snapshot_at=ctx.now(), sent_at=ctx.now()))
    export = client.get(f"{API}/me/export", headers=token_for(anna)).json
    assert [(p["transfer_id"], p["remote_handle"], p["amount"]) for p in export["payments_abroad"]] == [
        (sent, "zoltan", 2)
    ]
    assert [(share["peer_id"], share["record"]["open_slots"]) for share in export["reviewer_pool_shared"]] == [
        ("hu", 2)
    ]
    others = client.get(f"{API}/me/export", headers=token_for(bert)).json
    assert others["payments_abroad"] == [] and others["reviewer_pool_shared"] == []


def _reviewed_abroad(app, ctx, make_member) -> tuple[object, int]:
    """Zsofia reviews a proposal from the Italian node and is paid its bounty, as the entries would arrive."""
    zsofia = make_member("zsofia", is_reviewer=True, pool_consent=True, expertise=["education"], languages=["en"])
    _peer(ctx, "it", "IT")
    with ctx.db.read() as s:
        pseudonym = s.get(Member, zsofia.id).pseudonym
    invite = {
        "invite_id": "inv1",
        "proposal_ref": "7",
        "reviewer_handle": pseudonym,
        "title": TITLE,
        "summary": "Lent by libraries.",
        "tags": ["education"],
        "language": "en",
        "bounty": 3,
        "accept_by": "2026-03-05T09:00:00Z",
        "due_by": "2026-03-19T09:00:00Z",
    }
    _apply(app, reviewer_side.apply_invite, "it", invite)
    browser = app.test_client()
    login(browser, "zsofia@example.org")
    incoming_id = int(re.search(r"/reviews/abroad/(\d+)", browser.get("/reviews").get_data(as_text=True)).group(1))
    assert (
        browser.post(
            f"/reviews/abroad/{incoming_id}/accept", data={"csrf_token": csrf(browser, "/reviews")}
        ).status_code
        == 303
    )
    form = {k: str(v) for k, v in REVIEW.items()} | {"csrf_token": csrf(browser, "/reviews")}
    assert browser.post(f"/reviews/abroad/{incoming_id}/review", data=form).status_code == 303
    bounty = {
        "transfer_id": bounty_transfer_id("inv1"),
        "payer": BOUNTY_PAYER,
        "payee": pseudonym,
        "amount": 3,
        "memo": f"Review bounty: {TITLE}",
    }
    _apply(app, transfers.apply_transfer, "it", bounty)
    return browser, zsofia


def test_a_blind_review_bounty_from_abroad_names_the_proposal_not_its_author(app, client, ctx, make_member, token_for):
    make_member(AUTHOR[0], display_name=AUTHOR[1])  # a namesake here: the statement must not reach for any member
    browser, zsofia = _reviewed_abroad(app, ctx, make_member)
    [line, *_] = _statement(client, token_for(zsofia))
    assert (line["kind"], line["amount"], line["status"]) == ("cross_border_in", 3, "completed")
    assert line["description"] == f"Review bounty for “{TITLE}”" and line["counterparty"] == "Cross-border: Italy"
    html = browser.get("/statement").get_data(as_text=True)
    table = browser.get("/statement.csv").get_data(as_text=True)
    api = client.get(f"{API}/me/statement", headers=token_for(zsofia)).get_data(as_text=True)
    assert f"Review bounty for “{TITLE}”" in html and TITLE in table
    for shown in (html, table, api):
        for name in AUTHOR:
            assert name.lower() not in shown.lower(), name
    assert BOUNTY_PAYER not in html + table  # the wire's stand-in payer is no person: the words say what it is
    [row] = [r for r in csv.DictReader(io.StringIO(table)) if r["kind"] == "cross_border_in"]
    assert (row["amount"], row["counterparty"]) == ("3", "Cross-border: Italy")


def _web_session(node, email: str) -> requests.Session:
    web = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', web.get(node.url + "/login").text).group(1)
    r = web.post(node.url + "/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 200 and "/login" not in r.url, r.url
    return web


@pytest.mark.slow
def test_between_real_nodes_the_reviewers_statement_never_names_the_proposer(node_process):
    """Giulia (Italy) asks for a review; Zsofia (Hungary) reviews it blind and is paid at home: her statement page,
    CSV and API name the proposal and Italy, and neither Giulia's handle nor her name."""
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education"])
    giulia = it.new_member(AUTHOR[0])
    giulia.call("PATCH", "/me", {"display_name": AUTHOR[1]}, expect=200)
    wait_in_pool(it, "hu", profile["pseudonym"])
    propose(giulia, tags=["education"])
    invite = wait_incoming(zsofia)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW, expect=201)
    wait_until(lambda: zsofia.balance() == 13, what="the bounty credited at home")
    web = _web_session(hu, "zsofia@example.org")
    html, table = web.get(hu.url + "/statement").text, web.get(hu.url + "/statement.csv").text
    api = zsofia.call("GET", "/me/statement", expect=200)
    assert f"Review bounty for “{TITLE}”" in html and "Cross-border: Italy" in table
    assert api.json()["lines"][0]["description"] == f"Review bounty for “{TITLE}”"
    for shown in (html, table, api.text):
        for name in AUTHOR:
            assert name.lower() not in shown.lower(), name


def test_the_dashboard_shows_the_ten_newest_payments_abroad_and_the_api_all_page_by_page(
    app, client, ctx, make_member, token_for
):
    """The dashboard's panel reads only the ten it shows, however many the member made; the API lists every one."""
    anna = make_member("anna")
    _peer(ctx, "hu", "HU")
    fed = federation_of(app)
    for n in range(12):
        with ctx.db.write() as s:
            payer = s.get(Member, anna.id)
            transfers.send_transfer(s, fed, payer=payer, to=f"z{n}@hu", amount=1, memo="", now=ctx.now())
    login(client, "anna@example.org")
    page = client.get("/dashboard").get_data(as_text=True)
    assert re.findall(r"<td[^>]*>to (z\d+@hu)</td>", page) == [f"z{n}@hu" for n in range(11, 1, -1)]
    first = client.get(f"{API}/me/cross-border", headers=token_for(anna)).json
    assert [t["counterparty"] for t in first["transfers"]] == [f"z{n}@hu" for n in range(11, -1, -1)]
    assert first["next_before"] is None  # one page holds them all
    # page by page: five, five, then the last two; the pages meet without a gap or a repeat
    seen, before = [], ""
    for size in (5, 5, 5):
        page = client.get(f"{API}/me/cross-border?limit={size}&before={before}", headers=token_for(anna)).json
        seen += [t["counterparty"] for t in page["transfers"]]
        before = page["next_before"] or ""
    assert seen == [f"z{n}@hu" for n in range(11, -1, -1)] and before == ""
    expected = {
        "limit=0": "out_of_range",
        "limit=101": "out_of_range",
        "limit=x": "not_an_integer",
        "before=-1": "invalid_cursor",
        "before=abc": "invalid_cursor",
    }
    for bad, code in expected.items():
        refused = client.get(f"{API}/me/cross-border?{bad}", headers=token_for(anna))
        assert (refused.status_code, refused.json["error"]["code"]) == (422, code), bad
