"""The reviewer's page of an invitation from abroad: the form waits for the full text (a script or a Refresh link
shows it when it arrives), scores are not pre-set, and the three tenets are explained."""

from __future__ import annotations

from types import SimpleNamespace

from federation.reviews import reviewer_side
from federation.tables import IncomingInvitation, Peer
from node.tables import Member
from tests.node.test_web import login


def invited(app, ctx, make_member):
    rita = make_member("rita", is_reviewer=True, pool_consent=True, expertise=["education"], languages=["en"])
    fed = app.extensions["sifnet_federation"]
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
            fed,
            s.get(Peer, "it"),
            SimpleNamespace(
                body={
                    "invite_id": "inv1",
                    "proposal_ref": "7",
                    "reviewer_handle": s.get(Member, rita.id).pseudonym,
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
    with ctx.db.write() as s:
        row = s.query(IncomingInvitation).one()
        reviewer_side.accept(s, fed, member=s.get(Member, rita.id), incoming_id=row.id, now=ctx.now())
        return rita, row.id


def test_the_form_waits_for_the_full_text_and_then_preselects_nothing(app, ctx, client, make_member):
    rita, incoming_id = invited(app, ctx, make_member)
    login(client, rita.email)
    page = client.get(f"/reviews/abroad/{incoming_id}").get_data(as_text=True)
    assert 'data-poll="/reviews/abroad/' in page and f'data-incoming="{incoming_id}"' in page
    assert "live.js" in page and 'data-live="/events?after=' in page and ">Refresh</a>" in page
    assert 'name="shared_value"' not in page  # no review before the text is there
    assert client.get(f"/reviews/abroad/{incoming_id}/text").json == {"ready": False}
    with ctx.db.write() as s:  # proposal_share arrives
        s.get(IncomingInvitation, incoming_id).full_text = "The full plan, with the library network."
    assert client.get(f"/reviews/abroad/{incoming_id}/text").json == {"ready": True}
    page = client.get(f"/reviews/abroad/{incoming_id}").get_data(as_text=True)
    assert "The full plan" in page and 'name="shared_value"' in page and "checked" not in page
    assert page.index('id="full-text"') < page.index('name="shared_value"')  # the text before the form
    for words in (
        "for the community and for the initiative alike",
        "a social situation for the better",
        "durability of the plan",
        "sure you are of your own assessment",
    ):
        assert words in page


def test_only_the_invited_member_may_ask_whether_the_text_arrived(app, ctx, client, make_member):
    _, incoming_id = invited(app, ctx, make_member)
    other = make_member("otto")
    login(client, other.email)
    assert client.get(f"/reviews/abroad/{incoming_id}/text").status_code == 404
