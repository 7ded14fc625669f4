"""The directory's three money views from a known history: payments made, positions now, what clearing changed.

The history, between three listed nodes (at, hu, it) and an older node (nl) that reports no payments:

    1. at -> it   2 SIF, 10 days ago, completed
    2. hu -> at   1 SIF, 100 days ago, completed
    3. at -> hu   1 SIF, 5 days ago, bounced (never a payment)
    4. it -> hu   3 SIF, 400 days ago, completed
    5. hu -> it   1 SIF, 20 days ago, completed (a review bounty)
    6. it -> at   5 SIF, 2 days ago, bounced
    7. at -> nl   3 SIF, 50 days ago, completed (nl's software reports no payments)
    then the clearing round r-2026-03 (at, hu, it): debts at->it 2, it->hu 2, hu->at 1 (5 in all) lose the
    circle's 1: at->it 1, it->hu 1 (2 in all); nl took no part
    8. at -> hu   4 SIF, 1 day ago: hu applied it, at has no receipt yet (so their payment figures disagree)

Each node's summary says what its own books hold after that; the directory must show exactly the numbers below.
The directory itself also ran a round that was abandoned (r-dir-0): it changed nothing, and both the public
history and the working group's page list it beside the round the nodes report.
"""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

import pytest

from federation.directory import admin
from federation.directory.poller import poll_once
from federation.tables import SettlementRound
from tests.directory.conftest import apply_node, list_node
from tests.directory.fakes import BODY, cross
from tests.directory.test_admin import LIGHT, PASSWORD, log_in, post


def paid(peer: str, **figures: int) -> dict:
    """A `payments` entry; the figures not named are 0."""
    return {
        "peer": peer,
        **{f"{way}_{p}": 0 for p in ("30d", "365d", "all") for way in ("paid", "received")},
        **figures,
    }


ROUND = {
    "round_id": "r-2026-03",
    "coordinator": "eu-dir",
    "participants": ["at", "hu", "it"],
    "total_before": 5,
    "total_after": 2,
    "cleared": 1,
}
SUMMARIES = {
    "at": (
        "AT",
        {
            "cross_border": [cross("hu", position=-4), cross("it", position=-1), cross("nl", position=-3)],
            "payments": [
                paid("hu", received_365d=1, received_all=1),  # 2; 3 bounced; 8 waits for its receipt
                paid("it", paid_30d=2, paid_365d=2, paid_all=2),  # 1; 6 bounced
                paid("nl", paid_365d=3, paid_all=3),  # 7
            ],
            "clearings": [{**ROUND, "applied": "2026-03-02T09:00:00Z"}],
        },
    ),
    "hu": (
        "HU",
        {
            "cross_border": [cross("at", position=4), cross("it", position=1)],
            "payments": [
                paid("at", paid_365d=1, paid_all=1, received_30d=4, received_365d=4, received_all=4),  # 2, 8
                paid("it", paid_30d=1, paid_365d=1, paid_all=1, received_all=3),  # 5, 4
            ],
            "clearings": [{**ROUND, "applied": "2026-03-02T09:00:05Z"}],
        },
    ),
    "it": (
        "IT",
        {
            "cross_border": [cross("at", position=1), cross("hu", position=-1)],
            "payments": [
                paid("at", received_30d=2, received_365d=2, received_all=2),  # 1
                paid("hu", paid_all=3, received_30d=1, received_365d=1, received_all=1),  # 4, 5
            ],
            "clearings": [{**ROUND, "applied": "2026-03-02T09:00:02Z"}],
        },
    ),
    "nl": ("NL", {"cross_border": [cross("at", position=3)]}),  # older software: no `payments`
}

COLUMNS = ("period", "payer", "payer_country", "payee", "payee_country", "amount", "reported_by", "mirror", "state")
PAYMENTS = [
    dict(zip(COLUMNS, row, strict=True))
    for row in [
        ("30d", "at", "AT", "hu", "HU", 0, "at", 4, "disagree"),  # 8: hu has it, at not yet
        ("30d", "at", "AT", "it", "IT", 2, "at", 2, "agree"),
        ("30d", "hu", "HU", "it", "IT", 1, "hu", 1, "agree"),
        ("365d", "at", "AT", "hu", "HU", 0, "at", 4, "disagree"),
        ("365d", "at", "AT", "it", "IT", 2, "at", 2, "agree"),
        ("365d", "at", "AT", "nl", "NL", 3, "at", None, "not reported"),
        ("365d", "hu", "HU", "at", "AT", 1, "hu", 1, "agree"),
        ("365d", "hu", "HU", "it", "IT", 1, "hu", 1, "agree"),
        ("all", "at", "AT", "hu", "HU", 0, "at", 4, "disagree"),
        ("all", "at", "AT", "it", "IT", 2, "at", 2, "agree"),
        ("all", "at", "AT", "nl", "NL", 3, "at", None, "not reported"),
        ("all", "hu", "HU", "at", "AT", 1, "hu", 1, "agree"),
        ("all", "hu", "HU", "it", "IT", 1, "hu", 1, "agree"),
        ("all", "it", "IT", "hu", "HU", 3, "it", 3, "agree"),
    ]
]
# The payments chart of each period: the arrows between countries and their titles.
PAYMENT_ARROWS = {
    "30d": {"AT → IT: 2 SIF", "HU → IT: 1 SIF"},
    "365d": {"AT → IT: 2 SIF", "AT → NL: 3 SIF", "HU → AT: 1 SIF", "HU → IT: 1 SIF"},
    "all": {"AT → IT: 2 SIF", "AT → NL: 3 SIF", "HU → AT: 1 SIF", "HU → IT: 1 SIF", "IT → HU: 3 SIF"},
}
POSITIONS = [
    {
        "node_a": a,
        "node_b": b,
        "a_says": a_says,
        "b_says": -a_says,
        "sum": 0,
        "state": "agree",
        "debtor": debtor,
        "debtor_country": debtor.upper(),
        "creditor": creditor,
        "creditor_country": creditor.upper(),
        "amount": abs(a_says),
    }
    for a, b, a_says, debtor, creditor in [
        ("at", "hu", -4, "at", "hu"),
        ("at", "it", -1, "at", "it"),
        ("at", "nl", -3, "at", "nl"),
        ("hu", "it", 1, "it", "hu"),
    ]
]
POSITION_ARROWS = {"AT owes HU 4 SIF", "AT owes IT 1 SIF", "AT owes NL 3 SIF", "IT owes HU 1 SIF"}
CLEARING = [
    {
        **ROUND,
        "participants": "at, hu, it",
        "state": "applied",
        "started": "",
        "applied": "2026-03-02T09:00:05Z",
        "reported_by": "at, hu, it",
        "reduced_by": 3,
        "changed": True,
    },
    {
        "round_id": "r-dir-0",
        "coordinator": "eu-dir",
        "participants": "at, hu, it",
        "state": "abandoned",
        "total_before": 5,
        "total_after": 5,
        "cleared": 0,
        "started": "2026-02-01T10:00:00Z",
        "applied": "",
        "reported_by": "",
        "reduced_by": 0,
        "changed": False,
    },
]


@pytest.fixture
def history(make_directory, fake_node):
    """The four nodes listed and polled once; the directory's abandoned round in its own table."""
    app = make_directory(**LIGHT)
    d = app.extensions["sifnet_directory"]
    for node_id, (country, figures) in SUMMARIES.items():
        list_node(d, fake_node(node_id, country, body={**BODY, **figures}))
    with d.db.write() as s:
        s.add(
            SettlementRound(
                round_id="r-dir-0",
                state="abandoned",
                participants=json.dumps(["at", "hu", "it"]),
                deadline=datetime(2026, 2, 1, 11, tzinfo=UTC),
                total_before=5,
                total_after=5,
                reason="hu did not answer",
                created_at=datetime(2026, 2, 1, 10, tzinfo=UTC),
            )
        )
    report = poll_once(d)
    assert all(o.health == "up" for o in report.outcomes), [o.message for o in report.outcomes]
    return app, d


def table_rows(html: str, table_id: str) -> list[list[str]]:
    """The cells of a table's rows (not its header), as text with single spaces."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S).group(0)
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", table, re.S)[1:]
    return [[_text(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def _text(fragment: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).replace("\xa0", " ").split())


def chart_titles(html: str, section: str) -> set[str]:
    """The arrow titles of the flow chart in a page section."""
    part = re.search(rf'<section class="card" id="{section}">.*?</section>', html, re.S).group(0)
    return {_text(t) for t in re.findall(r'<path[^>]*class="flow"[^>]*><title>(.*?)</title>', part, re.S)}


def csv_rows(client, name: str, query: str = "") -> list[dict]:
    answer = client.get(f"/export/{name}.csv{query}")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))


def as_csv(rows: list[dict]) -> list[dict]:
    return [{k: "" if v is None else str(v) for k, v in r.items()} for r in rows]


def test_payments_made_are_gross_per_period_and_cross_checked(history):
    app, _ = history
    client = app.test_client()
    assert client.get("/api/v1/payments").get_json() == {"payments": PAYMENTS}
    assert csv_rows(client, "payments") == as_csv(PAYMENTS)
    assert client.get("/api/v1/payments?period=30d").get_json()["payments"] == PAYMENTS[:3]
    assert csv_rows(client, "payments", "?period=30d") == as_csv(PAYMENTS[:3])
    flows = client.get("/api/v1/flows").get_json()
    for period, arrows in PAYMENT_ARROWS.items():
        html = client.get(f"/?period={period}").get_data(as_text=True)
        mine = [r for r in PAYMENTS if r["period"] == period]
        assert table_rows(html, "payments-table") == [
            [
                f"{r['payer']} ({r['payer_country']})",
                f"{r['payee']} ({r['payee_country']})",
                f"{r['amount']} SIF",
                r["reported_by"],
                "not reported" if r["mirror"] is None else f"{r['mirror']} SIF",
                {"agree": "✓ agree", "disagree": "⚠ disagree"}.get(r["state"], r["state"]),
            ]
            for r in mine
        ]
        assert chart_titles(html, "payments") == arrows
        assert {f"{e['from']} → {e['to']}: {e['amount']} SIF" for e in flows["payments"][period]} == arrows
    html = client.get("/").get_data(as_text=True).replace("\xa0", " ")  # all time unless asked
    assert "AT → IT: 2 SIF" in html and "AT → HU: 1 SIF" not in html  # the bounced payment is no payment
    assert "Payments not reported by: nl (their software is older)." in html
    assert "SIF paid, net" not in html


def test_positions_now_say_who_owes_whom(history):
    app, _ = history
    client = app.test_client()
    assert client.get("/api/v1/positions").get_json() == {"positions": POSITIONS}
    assert csv_rows(client, "positions") == as_csv(POSITIONS)
    html = client.get("/").get_data(as_text=True)
    assert table_rows(html, "positions-table") == [
        [f"{p['node_a']} · {p['node_b']}", f"{p['debtor']} owes {p['creditor']} {p['amount']} SIF"]
        + [str(p["a_says"]), str(p["b_says"]), "0", "✓ agree"]
        for p in POSITIONS
    ]
    assert chart_titles(html, "positions") == POSITION_ARROWS
    edges = client.get("/api/v1/flows").get_json()["positions"]
    assert {f"{e['from']} owes {e['to']} {e['amount']} SIF" for e in edges} == POSITION_ARROWS


def test_what_clearing_changed(history):
    app, _ = history
    client = app.test_client()
    assert client.get("/api/v1/clearing").get_json() == {"clearing": CLEARING}
    assert csv_rows(client, "clearing") == as_csv(CLEARING)
    html = client.get("/").get_data(as_text=True)
    assert [row[:7] for row in table_rows(html, "clearing-table")] == [
        ["r-2026-03", "eu-dir", "applied by its nodes", "at, hu, it", "5", "2", "1"],
        ["r-dir-0", "eu-dir", "abandoned", "at, hu, it", "5", "5", "0"],
    ]
    chart = re.search(r'<section class="card" id="clearing">.*?</svg>', html, re.S).group(0)
    bars = {_text(t) for t in re.findall(r"<rect[^>]*><title>(.*?)</title>", chart, re.S)}
    assert bars == {"r-2026-03, debt before: 5 SIF", "r-2026-03, debt after: 2 SIF"}  # r-dir-0 changed nothing


def test_old_urls_redirect_to_payments(history):
    app, _ = history
    client = app.test_client()
    for old, new in (("/api/v1/sif", "/api/v1/payments"), ("/export/sif.csv", "/export/payments.csv")):
        answer = client.get(old)
        assert answer.status_code == 308 and answer.location.endswith(new)


def test_the_admin_shows_the_public_rounds_and_every_approval(history, fake_node):
    app, d = history
    client = app.test_client()
    with d.db.write() as s:
        admin.add_admin(s, username="ines", password=PASSWORD, now=d.now(), hasher=admin.password_hasher(d.settings))
    assert log_in(client).status_code == 303
    public = client.get("/").get_data(as_text=True)
    page = client.get("/admin/").get_data(as_text=True)
    shown = re.findall(r'<tr id="round-([^"]+)"', page)
    assert shown == re.findall(r'<tr id="cleared-([^"]+)"', public) == ["r-2026-03", "r-dir-0"]
    assert "No clearing round yet" not in page
    # The same numbers on both pages: state, participants, debt before and after, cleared.
    admin_rows = [row[1:7] for row in table_rows(page, "clearing-rounds-table")]
    assert admin_rows == [row[1:7] for row in table_rows(public, "clearing-table")]
    # Approvals: on the admin page, and by the command line (list_node, as the fixture did); both audited.
    apply_node(d, fake_node("be-vl", "BE"))
    post(client, "/admin/nodes/be-vl/approve", fingerprint=_fingerprint(d, "be-vl"))
    trail = table_rows(client.get("/admin/audit").get_data(as_text=True), "audit")
    approvals = [(row[1], row[3]) for row in trail if row[2] == "approved"]
    assert approvals == [("ines", "be-vl")] + [("(operator)", n) for n in ("nl", "it", "hu", "at")]


def _fingerprint(d, node_id: str) -> str:
    from federation.directory.tables import Listing

    with d.db.read() as s:
        return s.get(Listing, node_id).candidate["fingerprint"]
