"""A refused form keeps what was typed and shows every error beside its field; the API lists them all."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from node.tables import FormEcho, LedgerTxn, Proposal
from node.web.form_echo import forget_old_echoes
from node.web.form_fill import fill
from tests.conftest import balance_of
from tests.node.test_web import csrf, login

API = "/api/v1"
PAGE = """<!doctype html><html><body>
<form method="post" action="/search"><input name="q" value="old"></form>
<form method="post" action="/pay?x=1">
<input type="hidden" name="csrf_token" value="t"><input type="password" name="password" value="">
<label>To <input name="to" required value=""></label>
<label>Amount <input name="amount" type="number"/></label>
<textarea name="memo" rows="2">was &amp; here</textarea>
<select name="stage"><option value="idea" selected>Idea</option><option value="pilot">Pilot</option></select>
<input type="checkbox" name="tags" value="food" checked><input type="checkbox" name="tags" value="care">
</form><!-- end --><p>Tom &amp; Jerry &#8211; ok</p></body></html>"""


def errors_beside(html: str) -> dict[str, str]:
    return dict(re.findall(r'<span class="field-error" id="error-([\w-]+)">([^<]*)</span>', html))


def test_fill_puts_values_and_errors_into_the_form_sent_and_nothing_else():
    values = {"to": ['bert"><script>'], "amount": ["-3"], "memo": ["<b>soup</b>\n"], "stage": ["pilot"]}
    values |= {"tags": ["care"], "csrf_token": ["evil"], "password": ["secret"], "q": ["new"]}
    errors = {"amount": "Amount: please give a whole number of SIF above 0.", "tags": "Tags: pick one"}
    html = fill(PAGE, page_path="/other", action="/pay", values=values, errors=errors)
    assert '<input name="q" value="old">' in html  # another form: untouched
    assert '<input type="hidden" name="csrf_token" value="t">' in html and 'value="secret"' not in html
    assert '<input name="to" required value="bert&quot;&gt;&lt;script&gt;">' in html  # escaped, never markup
    assert (
        '<input name="amount" type="number" value="-3" aria-invalid="true" aria-describedby="error-amount" />'
        '<span class="field-error" id="error-amount">Amount: please give a whole number of SIF above 0.</span>'
    ) in html
    assert (
        '<textarea name="memo" rows="2">\n&lt;b&gt;soup&lt;/b&gt;\n</textarea>' in html and "was &amp; here" not in html
    )
    assert '<option value="idea">Idea</option><option value="pilot" selected>Pilot</option>' in html
    assert '<input type="checkbox" name="tags" value="food" aria-invalid="true"' in html
    assert 'value="food" aria-invalid="true" aria-describedby="error-tags">' in html  # unticked: not sent
    assert '<input type="checkbox" name="tags" value="care" checked aria-invalid="true"' in html
    assert html.index('id="error-tags"') < html.index('value="food"')  # a group's error before its first box
    assert "<!-- end --><p>Tom &amp; Jerry &#8211; ok</p>" in html
    assert errors_beside(html) == errors


def test_a_form_without_action_is_the_pages_own():
    page = '<form method="post"><input name="title"></form>'
    assert 'value="T"' in fill(page, page_path="/p", action="/p", values={"title": ["T"]}, errors={})
    assert 'value="T"' not in fill(page, page_path="/q", action="/p", values={"title": ["T"]}, errors={})


def test_a_refused_proposal_keeps_its_texts_and_moves_nothing(app, ctx, make_member):
    make_member("anna")  # 10 SIF: 3 reviews x 30 SIF are more than she has, or may owe
    client = app.test_client()
    login(client, "anna@example.org")
    text = "Repair café in every district.\n\nSecond paragraph with <angle> & ampersand."
    form = {"title": "Repair cafés", "summary": "Fix, don't throw away", "full_text": text, "tags": ["education"]}
    form |= {"language": "en", "stage": "pilot", "reviews_wanted": "3", "bounty": "30"}
    with ctx.db.read() as s:
        postings = s.scalar(select(func.count()).select_from(LedgerTxn))
    r = client.post(
        "/proposals", data={**form, "csrf_token": csrf(client, "/proposals")}, headers={"Referer": "/proposals"}
    )
    assert r.status_code == 303
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert 'data-code="insufficient_funds"' in html, re.findall(r'data-code="[^"]+">[^<]*', html)
    assert 'name="title" required maxlength="200" value="Repair cafés"' in html
    assert "Fix, don&#39;t throw away</textarea>" in html or "Fix, don't throw away</textarea>" in html
    assert "Second paragraph with &lt;angle&gt; &amp; ampersand.</textarea>" in html
    assert 'value="education" checked' in html and '<option value="pilot" selected>' in html
    assert 'name="reviews_wanted" min="1"' in html and 'value="3"' in html
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Proposal)) == 0
        assert s.scalar(select(func.count()).select_from(LedgerTxn)) == postings
        assert s.scalar(select(func.count()).select_from(FormEcho)) == 0  # read once, then gone
    again = client.get("/proposals").get_data(as_text=True)  # a later visit starts afresh
    assert "Repair cafés" not in again and "insufficient_funds" not in again


def test_every_error_of_the_pay_form_at_once_beside_its_field(app, ctx, make_member, books):
    anna = make_member("anna")
    client = app.test_client()
    login(client, "anna@example.org")
    form = {"to": "", "amount": "-2", "memo": "x" * 300, "csrf_token": csrf(client, "/pay")}
    r = client.post("/pay", data=form, headers={"Referer": "/pay"})
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    beside = errors_beside(html)
    assert set(beside) == {"to", "amount", "memo"}, beside
    codes = re.findall(r'class="flash error" role="alert" data-code="([a-z_]+)"', html)
    assert codes == ["missing_field", "amount_not_positive", "too_long"]
    assert 'name="amount" type="number" min="1" step="1" required value="-2"' in html
    assert "[amount_not_positive]" not in html  # the code is for machines, not in the words
    assert balance_of(ctx, anna) == 10
    books()


def test_the_api_lists_every_refused_field(client, make_member, token_for):
    anna = make_member("anna")
    r = client.post(
        f"{API}/proposals",
        headers=token_for(anna),
        json={"title": "", "summary": "", "full_text": "F", "tags": [], "language": "xx", "stage": "idea"}
        | {"reviews_wanted": 0, "bounty": 1},
    )
    assert r.status_code == 422
    error = r.json["error"]
    fields = [(f["field"], f["code"]) for f in error["fields"]]
    assert fields == [
        ("tags", "missing_field"),
        ("title", "missing_field"),
        ("summary", "missing_field"),
        ("language", "bad_choice"),
        ("reviews_wanted", "out_of_range"),
    ]
    assert (error["field"], error["code"]) == fields[0]  # a client reading one error reads the first


def test_sign_up_keeps_the_name_and_address_but_never_the_password(app):
    client = app.test_client()
    form = {"email": "not-an-address", "display_name": "Zsófia", "password": "short", "csrf_token": csrf(client)}
    r = client.post("/signup", data=form)
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert set(errors_beside(html)) == {"email", "password"}
    assert 'value="not-an-address"' in html and 'value="Zsófia"' in html and 'value="short"' not in html


def test_kept_forms_nobody_came_back_for_are_swept(app, ctx, clock, make_member):
    make_member("anna")
    client = app.test_client()
    login(client, "anna@example.org")
    client.post("/pay", data={"to": "", "amount": "1", "csrf_token": csrf(client, "/pay")})  # no page opened after
    with ctx.db.read() as s:
        assert s.scalar(select(func.count()).select_from(FormEcho)) == 1
    assert forget_old_echoes(ctx) == 0
    clock.advance(3601)
    assert forget_old_echoes(ctx) == 1


def test_of_several_forms_to_one_path_the_one_sent_is_filled():
    page = "".join(
        f'<form method="post" action="/coordinator/peers"><input type="hidden" name="node_id" value="{node}">'
        f'<input name="trust_limit" value="{limit}"></form>'
        for node, limit in (("at", 50), ("hu", 100), ("it", 70))
    )
    values = {"node_id": ["hu"], "action": ["trust"], "trust_limit": ["-5"]}
    html = fill(page, page_path="/coordinator/peers", action="/coordinator/peers", values=values, errors={})
    assert re.findall(r'name="trust_limit" value="(-?\d+)"', html) == ["50", "-5", "70"]
