"""A local payment tells the payee, on the page and by mail in their language, as a payment from abroad does."""

from __future__ import annotations

from sqlalchemy import select

from node.tables import Notification
from tests.node.test_notices import mails


def test_the_payee_of_a_local_payment_is_notified_in_their_language(client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert", language="nl")
    r = client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 3, "memo": "soep"})
    assert r.status_code == 201
    with ctx.db.read() as s:
        notes = s.scalars(select(Notification).where(Notification.kind == "payment")).all()
    assert [(n.member_id, n.params) for n in notes] == [(bert.id, {"payer": "anna@be-vl", "amount": 3, "memo": "soep"})]
    [mail] = [m for m in mails(ctx).values() if m["To"] == "bert@example.org"]
    assert "anna@be-vl" in mail["Subject"] and "3\xa0SIF" in mail["Subject"]
    assert mail["Content-Language"] == "nl" and "soep" in mail.get_content()


def test_a_refused_payment_tells_nobody(client, ctx, make_member, token_for):
    anna, _bert = make_member("anna"), make_member("bert")
    r = client.post("/api/v1/transfers", headers=token_for(anna), json={"to": "bert", "amount": 10_000})
    assert r.status_code == 422, r.json
    with ctx.db.read() as s:
        assert s.scalars(select(Notification).where(Notification.kind == "payment")).all() == []


def test_a_country_is_one_of_the_list(client, make_member, token_for):
    anna = make_member("anna")
    for bad, code in (("XX", "invalid_country"), ("EU", "invalid_country"), ("Netherlands", "too_long")):
        r = client.patch("/api/v1/me", headers=token_for(anna), json={"country": bad})  # refused, never cut to "NE"
        assert (r.status_code, r.json["error"]["code"]) == (422, code), bad
    r = client.patch("/api/v1/me", headers=token_for(anna), json={"country": "nl"})
    assert r.status_code == 200 and r.json["country"] == "NL"
