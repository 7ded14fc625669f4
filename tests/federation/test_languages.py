"""The coordinator's federation pages in the reader's language, through the one catalog (node/translations)."""

from __future__ import annotations

import re

from federation.tables import Peer
from tests.node.test_web import login


def page(client, path: str, lang: str) -> str:
    return client.get(path, headers={"Accept-Language": lang}).get_data(as_text=True)


def test_the_peers_page_is_written_in_the_catalogs_hungarian(app, ctx, make_member):
    make_member("coord", role="coordinator")
    coordinator = app.test_client()
    login(coordinator, "coord@example.org")
    html = page(coordinator, "/coordinator/peers", "hu")
    assert '<html lang="hu">' in html
    assert "<h1>be-vl partnercsomópontjai</h1>" in html  # hu/LC_MESSAGES/messages.po, the node's id filled in
    assert "<h2>Partnercsomópont hozzáadása</h2>" in html
    with ctx.db.write() as s:
        s.add(
            Peer(
                node_id="hu",
                name="SIF Hungary",
                base_url="http://127.0.0.1:9",
                country="HU",
                fingerprint="x",
                status="suspended",
                status_reason="<b>audit</b>",
                created_at=ctx.now(),
            )
        )
    html = page(coordinator, "/coordinator/peers", "hu")
    assert "Indoklás: &lt;b&gt;audit&lt;/b&gt;" in html  # not translated yet: the English msgid, the value escaped
    english = page(coordinator, "/coordinator/peers", "en")
    assert "<h1>Peers of be-vl</h1>" in english and "partnercsomópont" not in english
    assert re.search(r'class="status-suspended">suspended<', english)  # the peer's state as a word, not its code
