"""Notifications are stored as kind and parameters and rendered for the reader: the recipient's language and time
zone in mails, the page's or the request's on the dashboard and in the API; older rows as they were written."""

from __future__ import annotations

import ast
from email import message_from_bytes, policy
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select

from federation.reviews import reviewer_side
from federation.tables import Peer
from node import i18n, notices
from node.services.notify import deliver_notifications, notify
from node.tables import Member, Notification
from tests.node.test_advice import book, post_listing
from tests.node.test_web import login

REPO = Path(__file__).resolve().parents[2]


def rows(ctx, kind: str) -> list[Notification]:
    with ctx.db.read() as s:
        return list(s.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id)))


def mails(ctx) -> dict[str, object]:
    """Run the mail sweep; the mails it wrote to the development mail folder, by file name."""
    deliver_notifications(ctx)
    folder = ctx.settings.data_path / "mail"
    return {p.name: message_from_bytes(p.read_bytes(), policy=policy.default) for p in sorted(folder.glob("*.eml"))}


def test_a_booking_is_stored_as_kind_and_params_and_mailed_in_the_providers_language(
    client, ctx, make_member, token_for
):
    anna = make_member("anna", language="de", time_zone="Europe/Berlin")
    bert = make_member("bert")
    listing_id = post_listing(client, token_for(anna))
    book(client, token_for(bert), listing_id, scheduled_for="2026-03-03T14:00:00Z")
    [note] = rows(ctx, "advice_booked")
    assert (note.member_id, note.subject, note.body) == (anna.id, "", "")
    assert note.params == {
        "receiver": "Bert",
        "hours": 1,
        "amount": 1,
        "scheduled_for": "2026-03-03T14:00:00Z",
        "ask": True,  # a booking of an offer waits for the adviser's yes
    }
    [mail] = mails(ctx).values()
    assert mail["To"] == "anna@example.org" and mail["Content-Language"] == "de"
    assert mail["Subject"] == "[SIF node] Bert hat ein Beratungsgespräch gebucht"
    body = mail.get_content()
    assert "Bert hat 1 Std. gebucht (1\xa0SIF, treuhänderisch verwahrt)." in body
    assert "Geplanter Termin: 03.03.2026, 15:00." in body  # 14:00 UTC is 15:00 in Berlin (CET)


def test_a_recipient_who_chose_nothing_gets_the_nodes_language_and_zone(app, client, ctx, make_member, token_for):
    anna, bert = make_member("anna"), make_member("bert")
    listing_id = post_listing(client, token_for(anna))
    book(client, token_for(bert), listing_id, scheduled_for="2026-03-03T14:00:00Z")
    [mail] = mails(ctx).values()
    assert mail["Subject"] == "[SIF node] Session booked by Bert" and mail["Content-Language"] == "en"
    assert "It is planned for Mar 3, 2026, 2:00\u202fPM." in mail.get_content()  # the test node: en, UTC


def test_the_dashboard_and_the_api_show_a_notification_in_the_readers_language(client, ctx, make_member, token_for):
    anna, bert = make_member("anna", language="nl", time_zone="Europe/Amsterdam"), make_member("bert")
    book(client, token_for(bert), post_listing(client, token_for(anna)))
    login(client, anna.email)
    dashboard = client.get("/dashboard", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "<strong>Adviesgesprek geboekt door Bert</strong>" in dashboard  # the page is in her saved language
    assert "2 mrt 2026, 10:00" in dashboard  # 09:00 UTC in Amsterdam
    auth = token_for(anna)
    [shown] = client.get("/api/v1/notifications", headers=auth).json["notifications"]
    assert shown["subject"] == "Adviesgesprek geboekt door Bert" and shown["params"]["receiver"] == "Bert"
    [shown] = client.get("/api/v1/notifications", headers={**auth, "Accept-Language": "de"}).json["notifications"]
    assert shown["subject"] == "Bert hat ein Beratungsgespräch gebucht"  # the API: Accept-Language first


def test_a_review_invitation_from_abroad_arrives_in_the_reviewers_language(app, ctx, make_member):
    zsofia = make_member(
        "zsofia",
        is_reviewer=True,
        pool_consent=True,
        expertise=["education"],
        languages=["en"],
        language="de",
        time_zone="Europe/Vienna",
    )
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="it",
                name="SIF Italy",
                base_url="http://127.0.0.1:9",
                country="IT",
                fingerprint="x",
                status="active",
                created_at=ctx.now(),
            )
        )
    with ctx.db.write() as s:  # as the inbox applies a review_invite entry from the Italian node
        reviewer_side.apply_invite(
            s,
            app.extensions["sifnet_federation"],
            s.get(Peer, "it"),
            SimpleNamespace(
                body={
                    "invite_id": "inv1",
                    "proposal_ref": "7",
                    "reviewer_handle": s.get(Member, zsofia.id).pseudonym,
                    "title": "Laptops",
                    "summary": "Lent by libraries.",
                    "tags": ["education"],
                    "language": "en",
                    "bounty": 3,
                    "accept_by": "2026-03-05T09:00:00Z",
                    "due_by": "2026-03-19T09:00:00Z",
                }
            ),
            ctx.now(),
        )
    [note] = rows(ctx, "review_invitation_abroad")
    assert note.params["accept_by"] == "2026-03-05T09:00:00Z" and note.params["country"] == "IT"
    [mail] = mails(ctx).values()
    assert mail["Subject"] == "[SIF node] Einladung zur Begutachtung von SIF Italy: Laptops"
    assert (
        "SIF Italy (Italien) lädt Sie ein, „Laptops“ für 3\xa0SIF zu begutachten. Bitte sagen Sie bis "
        "05.03.2026, 10:00 zu oder ab: http://127.0.0.1:5000/reviews"
    ) in mail.get_content()


def test_notifications_written_before_params_existed_show_as_stored(client, ctx, make_member):
    anna = make_member("anna", language="de")
    with ctx.db.write() as s:  # a row from before revision 0006: English text, no params
        s.execute(
            insert(Notification.__table__),
            {
                "member_id": anna.id,
                "kind": "payment",
                "params": None,
                "subject": "You received 2 SIF from zoltan@hu",
                "body": "zoltan@hu paid you 2 SIF. Memo: soup",
                "created_at": ctx.now(),
            },
        )
    login(client, anna.email)
    assert "You received 2 SIF from zoltan@hu" in client.get("/dashboard").get_data(as_text=True)
    [mail] = mails(ctx).values()
    assert mail["Subject"] == "[SIF node] You received 2 SIF from zoltan@hu" and mail["Content-Language"] == "en"
    assert "zoltan@hu paid you 2 SIF. Memo: soup" in mail.get_content()


def sample(notice: notices.Notice) -> dict:
    """Made-up parameters for every placeholder of a notice, of the right sort."""
    kinds = {notices.TIME: "2026-03-02T09:00:00Z", notices.AMOUNT: 1234, notices.COUNTRY: "HU"}
    names = set(notices._PLACEHOLDER.findall(notice.subject + notice.body + "".join(m for _, m in notice.extras)))
    params = {name: kinds.get(notice.shown.get(name), f"<{name}>") for name in names - notices.AUTOMATIC}
    params.update({name: next(iter(codes)) for name, codes in notice.terms.items()})
    return params


@pytest.mark.parametrize("kind", sorted(notices.NOTICES))
def test_every_kind_renders_in_every_language_with_every_placeholder_filled(ctx, kind):
    notice = notices.NOTICES[kind]
    params = notices.stored_params(kind, sample(notice))
    for language in i18n.LANGUAGES:
        subject, body = notices.render(kind, params, language=language, time_zone="Europe/Rome", settings=ctx.settings)
        text = f"{subject} {body}"
        assert subject and body and "%(" not in text, (language, text)
        for name in notice.required - set(notice.shown) - set(notice.terms):
            assert f"<{name}>" in text, (language, name, text)


def test_notify_refuses_an_unknown_kind_or_a_missing_parameter(ctx, make_member):
    anna = make_member("anna")
    with ctx.db.write() as s:
        with pytest.raises(ValueError, match="no notice for kind 'advice_teleported'"):
            notify(s, member_id=anna.id, kind="advice_teleported", params={}, now=ctx.now())
        with pytest.raises(ValueError, match="needs accept_by, bounty"):
            notify(s, member_id=anna.id, kind="review_invitation", params={"title": "x"}, now=ctx.now())
    assert rows(ctx, "review_invitation") == []


def test_every_kind_a_caller_names_is_declared():
    """Each notify(..., kind="...") in node/ and federation/ names a kind of node/notices.py."""
    named = {}
    for path in [*REPO.glob("node/**/*.py"), *REPO.glob("federation/**/*.py")]:
        for call in ast.walk(ast.parse(path.read_text())):
            if isinstance(call, ast.Call) and getattr(call.func, "id", None) == "notify":
                for kw in call.keywords:
                    if kw.arg == "kind" and isinstance(kw.value, ast.Constant):
                        named[kw.value.value] = path.relative_to(REPO).as_posix()
    assert len(named) >= 18, named  # the scan finds the callers
    assert {kind: where for kind, where in named.items() if kind not in notices.NOTICES} == {}
    assert {f"advice_{target}" for target in ("confirmed", "paid", "refunded", "split")} <= set(notices.NOTICES)


def test_a_translation_with_broken_placeholders_falls_back_to_english():
    class Broken:
        def gettext(self, msgid: str) -> str:
            return "Sitzung gebucht von %(empfaenger)s"

    assert notices._fill(Broken(), "Session booked by %(receiver)s", {"receiver": "Bert"}) == "Session booked by Bert"


def test_a_stored_row_missing_a_parameter_still_shows(ctx):
    """A kind that gained a parameter after the row was written: the row shows, with that part blank."""
    subject, body = notices.render(
        "review_reminder", {"title": "Laptops"}, language="de", time_zone="UTC", settings=ctx.settings
    )
    assert subject == "Erinnerung: Ihr Gutachten zu „Laptops“" and body.startswith("Your review is due by :")


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("payment_bounced", "trust_limit_exceeded", "beyond the trust limit that node set for it"),
        ("invitation_ended_abroad", "timed_out", "the review did not arrive in time"),
    ],
)
def test_a_reason_from_another_node_is_shown_in_words_not_as_its_code(ctx, kind, code, words):
    params = {
        "payee": "zoltan@hu",
        "peer": "hu",
        "amount": 3,
        "reason": "over the limit",
        "title": "Laptops",
        "reason_code": code,
    }
    subject, body = notices.render(
        kind, notices.stored_params(kind, params), language="en", time_zone="UTC", settings=ctx.settings
    )
    assert words in body and code not in body


def test_a_hungarian_reviewer_gets_the_invitation_from_italy_in_hungarian(app, ctx, make_member):
    """The issue's own example: the mail of a cross-border invitation, in Hungarian and Budapest time."""
    eszter = make_member(
        "eszter",
        is_reviewer=True,
        pool_consent=True,
        expertise=["education"],
        languages=["hu"],
        language="hu",
        time_zone="Europe/Budapest",
    )
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="it",
                name="SIF Italy",
                base_url="http://127.0.0.1:9",
                country="IT",
                fingerprint="x",
                status="active",
                created_at=ctx.now(),
            )
        )
    with ctx.db.write() as s:
        reviewer_side.apply_invite(
            s,
            app.extensions["sifnet_federation"],
            s.get(Peer, "it"),
            SimpleNamespace(
                body={
                    "invite_id": "inv-hu",
                    "proposal_ref": "7",
                    "reviewer_handle": s.get(Member, eszter.id).pseudonym,
                    "title": "Cucine solidali",
                    "summary": "Cucine di comunità.",
                    "tags": ["education"],
                    "language": "it",
                    "bounty": 2,
                    "accept_by": "2026-03-05T09:00:00Z",
                    "due_by": "2026-03-19T09:00:00Z",
                }
            ),
            ctx.now(),
        )
    [mail] = mails(ctx).values()
    hu = i18n.translations("hu")
    assert mail["Subject"] == "[SIF node] " + hu.gettext("Review invitation from %(peer)s: %(title)s") % {
        "peer": "SIF Italy",
        "title": "Cucine solidali",
    }
    body = mail.get_content()
    assert "Olaszország" in body and "2026. márc. 5. 10:00" in body  # Italy's name and 09:00 UTC in Budapest
    assert mail["Content-Language"] == "hu"
