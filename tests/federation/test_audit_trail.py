"""Federation's coordinator actions in the node's audit log, once each with who and when: peering (add, confirm),
trust limits, suspend and resume, disputes, key rotation, the directory's key, clearing rounds (start, outcome, the
certificate applied). An empty trust-limit form is refused and changes nothing; coordinator inputs have labels."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from federation.settlement import participant as settlement
from federation.transport.keys import rotate_key
from federation.transport.peers import PeerDocument
from federation.tables import Dispute, Peer
from node.app import create_app
from node.tables import Account, AuditEntry
from protocol import SigningKey
from tests.conftest import FAST_ARGON2, sign_up_by_mail
from tests.federation.test_settlement_units import acceptance, certificate, node, proposal  # noqa: F401 (fixture)
from tests.node.test_advice import act, book, post_listing
from tests.node.test_web import csrf, login

API = "/api/v1"


@pytest.fixture
def hu(clock, tmp_path):
    """An in-process node `hu` served over real HTTP on loopback, so the coordinator can add it by its URL."""
    holder = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["app"](environ, start), threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    holder["app"] = create_app(
        {"data_dir": str(tmp_path / "hu"), "node_id": "hu", "country": "HU", "base_url": url, **FAST_ARGON2},
        clock=clock,
        start_delivery=False,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    holder["app"].extensions["sifnet_federation"].stop()
    holder["app"].extensions["sifnet"].db.dispose()


def _post(browser, path: str, **form) -> str:
    r = browser.post(path, data={**form, "csrf_token": csrf(browser, "/coordinator/peers")})
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    page = browser.get("/coordinator/peers").get_data(as_text=True)
    return " ".join(re.findall(r'(<p class="flash [a-z]+"[^>]*>.*?</p>)', page))


def _log(ctx, after: int = 0) -> list[tuple]:
    with ctx.db.read() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id)).all()
        return [(e.action, e.actor_id, e.subject, e.at, e.detail) for e in rows]


def _last_id(ctx) -> int:
    with ctx.db.read() as s:
        return s.scalars(select(AuditEntry.id).order_by(AuditEntry.id.desc())).first() or 0


def test_every_federation_action_is_kept_once_with_actor_and_time(
    app, ctx, clock, make_member, token_for, hu, monkeypatch
):
    coord = make_member("coord", role="coordinator")
    browser = app.test_client()
    login(browser, "coord@example.org")
    start, t0 = _last_id(ctx), clock.now()
    steps = [
        dict(action="add", url=hu),
        dict(action="confirm", node_id="hu", fingerprint="", trust_limit="40"),
        dict(action="trust", node_id="hu", trust_limit="60"),
        dict(action="suspend", node_id="hu", reason="checking our books"),
        dict(action="resume", node_id="hu"),
    ]
    for n, form in enumerate(steps):
        clock.advance(60)
        if form["action"] == "confirm":
            with ctx.db.read() as s:
                form["fingerprint"] = s.get(Peer, "hu").fingerprint
        flashed = _post(browser, "/coordinator/peers", **form)
        assert "data-code" not in flashed, (n, flashed)  # no refusal
    with ctx.db.write() as s:
        s.add(Dispute(peer_id="hu", kind="position_mismatch", detail="3 vs -2", opened_at=clock.now()))
        s.flush()
        dispute_id = s.scalars(select(Dispute.id)).one()
    clock.advance(60)
    _post(browser, f"/coordinator/disputes/{dispute_id}/resolve", resolution="a bounce crossed the checkpoint")
    clock.advance(60)
    fed = app.extensions["sifnet_federation"]
    old, new, _end = rotate_key(fed)  # the operator's command: no member acts
    clock.advance(60)
    key = SigningKey.from_seed(hashlib.sha256(b"eu-dir").digest())
    doc = PeerDocument(
        "eu-dir",
        "directory",
        "EU",
        "http://eu-dir.invalid",
        ({"kid": key.key_id, "public": key.public_key.b64},),
        key.key_id,
        key.public_key.fingerprint,
        "{}",
    )
    monkeypatch.setattr(ctx, "settings", ctx.settings.replace(directory_id="eu-dir"))
    with ctx.db.write() as s:
        settlement.pin_directory(s, fed, doc, key.public_key.fingerprint, clock.now())
    clock.advance(60)
    auth = token_for(coord)
    r = app.test_client().post(
        f"{API}/federation/settlements", headers=auth, json={"participants": ["be-vl", "hu"], "deadline_seconds": 600}
    )
    assert r.status_code == 201 and r.json["state"] == "collecting", r.json  # hu does not know us: no statement yet
    round_id = r.json["round_id"]
    clock.advance(60)
    r = app.test_client().post(
        f"{API}/federation/settlements/{round_id}/abandon", headers=auth, json={"reason": "test"}
    )
    assert r.status_code == 200 and r.json["state"] == "abandoned", r.json
    found = _log(ctx, start)
    assert [(a, actor, subject, (at - t0) // timedelta(minutes=1)) for a, actor, subject, at, _d in found] == [
        ("peer_added", coord.id, "peer:hu", 1),
        ("peer_confirmed", coord.id, "peer:hu", 2),
        ("trust_limit_changed", coord.id, "peer:hu", 3),
        ("peer_suspended", coord.id, "peer:hu", 4),
        ("peer_resumed", coord.id, "peer:hu", 5),
        ("federation_dispute_resolved", coord.id, f"dispute:{dispute_id}", 6),
        ("key_rotated", None, "node:be-vl", 7),
        ("directory_pinned", None, "directory:eu-dir", 8),
        ("clearing_started", coord.id, f"round:{round_id}", 9),
        ("clearing_abandoned", coord.id, f"round:{round_id}", 10),
    ]
    details = {a: d for a, _actor, _s, _at, d in found}
    assert details["trust_limit_changed"] == {"old": 40, "new": 60}
    assert details["peer_confirmed"]["trust_limit"] == 40
    assert details["key_rotated"]["new_kid"] == new.key_id and details["key_rotated"]["old_kid"] == old.key_id
    assert details["clearing_started"]["participants"] == ["be-vl", "hu"]
    page = browser.get("/coordinator/audit").get_data(as_text=True)
    assert "trust limit changed" in page and "from 40\xa0SIF to 60\xa0SIF" in page and "peer hu" in page
    assert "reason: checking our books" in page and "a bounce crossed the checkpoint" in page


def test_an_applied_certificate_is_kept_as_the_nodes_own_action(node, ctx):
    start = _last_id(ctx)
    settlement.give_statement(node, "nl", "r1")
    prop = proposal()
    ours = settlement.answer_proposal(node, "nl", prop)
    cert = certificate(prop, [ours, acceptance("hu", prop), acceptance("nl", prop)])
    for _twice in range(2):
        settlement.apply_certificate(node, "nl", cert)
    [(action, actor, subject, _at, detail)] = _log(ctx, start)
    assert (action, actor, subject) == ("clearing_applied", None, "round:r1")
    assert detail == {"coordinator": "nl", "changes": {"hu": 4, "nl": -4}}


def _peer_fixture(ctx, clock) -> None:
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="hu",
                base_url="http://127.0.0.1:9",
                country="HU",
                fingerprint="x",
                status="active",
                created_at=clock.now(),
                trust_limit=25,
            )
        )
        s.flush()
        s.add(Account(kind="position", ref="position:hu", min_balance=-25, created_at=clock.now()))


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_trust_limit_is_refused_with_a_code_and_changes_nothing(app, ctx, clock, make_member, value):
    make_member("coord", role="coordinator")
    _peer_fixture(ctx, clock)
    browser = app.test_client()
    login(browser, "coord@example.org")
    before = _log(ctx)
    flashed = _post(browser, "/coordinator/peers", action="trust", node_id="hu", trust_limit=value)
    assert 'data-code="missing_trust_limit"' in flashed and "Give the trust limit" in flashed
    assert "is saved" not in flashed
    with ctx.db.read() as s:
        peer = s.get(Peer, "hu")
        account = s.scalars(select(Account).where(Account.ref == "position:hu")).one()
        assert (peer.trust_limit, account.min_balance) == (25, -25)
    assert _log(ctx) == before


def test_a_limit_below_what_the_peer_owes_asks_first(app, ctx, clock, make_member, token_for):
    coord = make_member("coord", role="coordinator")
    _peer_fixture(ctx, clock)
    with ctx.db.write() as s:  # hu owes this node 20
        s.execute(update(Account).where(Account.ref == "position:hu").values(balance=-20))
    browser = app.test_client()
    login(browser, "coord@example.org")
    before, last = _log(ctx), _last_id(ctx)
    flashed = _post(browser, "/coordinator/peers", action="trust", node_id="hu", trust_limit="10")
    assert 'data-code="trust_limit_below_debt"' in flashed and "returned to its payer" in flashed
    page = browser.get("/coordinator/peers").get_data(as_text=True)
    assert 'id="error-trust_limit"' not in page  # the form came back once, with the error beside the field
    assert _log(ctx) == before
    r = app.test_client().post(
        "/api/v1/federation/peers/hu/trust-limit", headers=token_for(coord), json={"trust_limit": 10}
    )
    assert (r.status_code, r.json["error"]["code"]) == (409, "trust_limit_below_debt")
    with ctx.db.read() as s:
        assert s.get(Peer, "hu").trust_limit == 25
    flashed = _post(browser, "/coordinator/peers", action="trust", node_id="hu", trust_limit="10", below_debt="on")
    assert "is saved" in flashed and "data-code" not in flashed
    with ctx.db.read() as s:
        account = s.scalars(select(Account).where(Account.ref == "position:hu")).one()
        assert (s.get(Peer, "hu").trust_limit, account.min_balance) == (10, -10)
    assert [(row[0], row[2], row[4]) for row in _log(ctx, last)] == [
        ("trust_limit_changed", "peer:hu", {"old": 25, "new": 10})
    ]


class _Fields(HTMLParser):
    """Every visible form field of a page, and whether a <label> holds it or names it."""

    def __init__(self) -> None:
        super().__init__()
        self.open_labels, self.labelled_ids, self.fields = 0, set(), []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.labelled_ids.add(a["for"])
        elif tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit", "button"):
            self.fields.append((a.get("name"), a.get("id"), self.open_labels > 0))

    def handle_endtag(self, tag):
        if tag == "label":
            self.open_labels -= 1

    def unlabelled(self) -> list[str]:
        return [name for name, ident, inside in self.fields if not inside and ident not in self.labelled_ids]


def test_every_coordinator_input_has_a_label(app, ctx, clock, make_member, token_for):
    coord = make_member("coord", role="coordinator")
    anna, bert = make_member("anna"), make_member("bert")
    _peer_fixture(ctx, clock)
    with ctx.db.write() as s:
        s.add(Dispute(peer_id="hu", kind="position_mismatch", detail="x", opened_at=clock.now()))
        s.add(
            Peer(
                node_id="nl",
                base_url="http://127.0.0.1:9",
                country="NL",
                fingerprint="y",
                status="pending",
                created_at=clock.now(),
            )
        )
    client = app.test_client()
    sign_up_by_mail(app, {"email": "n@example.org", "password": "x" * 12, "display_name": "N"})
    booking = book(client, token_for(bert), post_listing(client, token_for(anna)), hours=1)
    act(client, token_for(anna), booking["id"], "claim")
    act(client, token_for(bert), booking["id"], "dispute", {"reason": "no"})
    assert coord
    browser = app.test_client()
    login(browser, "coord@example.org")
    for path in ("/coordinator/", "/coordinator/peers", "/coordinator/audit", "/coordinator/settlements"):
        html = browser.get(path).get_data(as_text=True)
        fields = _Fields()
        fields.feed(html)
        assert fields.fields, path  # the page has fields to check
        assert fields.unlabelled() == [], (path, fields.unlabelled())
