"""Hostile web form posts: CSRF on every state-changing form (from app.url_map), members at coordinator
forms and at other members' objects; each refused with its code, the whole database unchanged."""

from __future__ import annotations

import re
import tempfile

import pytest

from federation.state import federation_of
from node.app import create_app
from node.web import CSRF_EXEMPT_PREFIXES
from tests.conftest import FAST_ARGON2, PASSWORD

from .conftest import refused, unchanged

# A real object per URL variable, so a form that skipped the CSRF check would act on something real.
ARGS = {
    "booking_id": "booking",
    "proposal_id": "proposal",
    "invitation_id": "invitation_dave",
    "review_id": "review",
    "member_id": "pete",
    "listing_id": "listing",
    "dispute_id": None,
    "incoming_id": None,
    "thread_id": "thread",
    "report_id": None,
}
WORDS = {"action": "accept", "ref": "x"}


def form_routes() -> list[tuple[str, str]]:
    """(rule, endpoint) of every POST route a browser form can reach (built from a throwaway app)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"data_dir": tmp, **FAST_ARGON2}, start_delivery=False)
        try:
            return sorted(
                (r.rule, r.endpoint)
                for r in app.url_map.iter_rules()
                if "POST" in r.methods and not r.rule.startswith(CSRF_EXEMPT_PREFIXES)
            )
        finally:
            federation_of(app).stop()
            app.extensions["sifnet"].db.dispose()


def pytest_generate_tests(metafunc):
    if "form_route" in metafunc.fixturenames:
        routes = form_routes()
        assert len(routes) >= 20, routes  # the enumeration itself must find the forms
        metafunc.parametrize("form_route", [rule for rule, _ in routes], ids=[ep for _, ep in routes])


def csrf_of(client, path: str = "/dashboard") -> str:
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture(scope="package")
def browsers(world):
    """Logged-in browser sessions (logging in writes last_active_at, so it happens before any digest)."""
    out = {}
    for handle in ("anna", "carol", "coord"):
        client = world.client()
        token = csrf_of(client, "/login")
        r = client.post("/login", data={"email": f"{handle}@example.org", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 303, r.get_data(as_text=True)[:300]
        out[handle] = (client, csrf_of(client))
    out["anonymous"] = (world.client(), None)
    return out


def concrete(rule: str, ids: dict) -> str:
    def fill(match):
        conv, name = match.group(1), match.group(2)
        if name in WORDS:
            return "cancel" if name == "action" and "bookings" in rule else WORDS[name]
        return str(ids.get(ARGS.get(name) or "", 1)) if conv == "int" or name in ARGS else "x"

    return re.sub(r"<(?:([a-z]+)(?:\([^)]*\))?:)?([a-z_]+)>", fill, rule)


@pytest.mark.parametrize("variant", ["missing", "wrong", "other-session"])
def test_every_form_refuses_a_post_without_its_csrf_token(world, browsers, form_route, variant):
    who = "coord" if form_route.startswith("/coordinator") else "anna"
    client, token = browsers[who]
    sent = {"missing": None, "wrong": "forged-" + token[7:], "other-session": browsers["carol"][1]}[variant]
    data = {
        "to": "carol",
        "amount": "1",
        "email": "anna@example.org",
        "password": PASSWORD,
        "title": "t",
        "reason": "r",
        "decision": "approve",
        "action": "suspend",
        "node_id": "hu",
    }
    if sent is not None:
        data["csrf_token"] = sent
    with unchanged(world.ctx):
        response = client.post(concrete(form_route, world.ids), data=data)
    refused(response, 400, "csrf_failed")


P = pytest.param
# (who, path, form fields) -> (status, code): pages that refuse with an error page.
PAGE_CASES = [
    P("carol", "GET", "/coordinator/", {}, 403, "coordinator_only", id="member-opens-coordinator-page"),
    P(
        "carol",
        "POST",
        "/coordinator/members/{pete}/decide",
        {"decision": "approve"},
        403,
        "coordinator_only",
        id="member-approves-via-form",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/peers",
        {"action": "suspend", "node_id": "hu"},
        403,
        "coordinator_only",
        id="member-suspends-peer-via-form",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/settlements",
        {"action": "start"},
        403,
        "coordinator_only",
        id="member-starts-settlement-via-form",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/conflicts",
        {"member_handle": "anna", "organisation": "x"},
        403,
        "coordinator_only",
        id="member-pins-conflict-via-form",
    ),
    P(
        "carol",
        "POST",
        "/coordinator/advice/bookings/{booking}/resolve",
        {"outcome": "split", "note": "x"},
        403,
        "coordinator_only",
        id="member-resolves-booking-via-form",
    ),
    P("carol", "GET", "/proposals/{proposal}", {}, 404, "proposal_not_found", id="member-opens-others-proposal"),
]
# Form handlers answer a domain refusal with a redirect and the code in a flash message (PRG, no JS).
FLASH_CASES = [
    P("anna", "/pay", {"to": "carol", "amount": "1.5"}, "amount_not_integer", id="pay-float-amount"),
    P("anna", "/pay", {"to": "carol", "amount": "-3"}, "amount_not_positive", id="pay-negative-amount"),
    P("anna", "/pay", {"to": "carol", "amount": "99999999999999999999999"}, "amount_too_large", id="pay-huge-amount"),
    P("anna", "/pay", {"to": "carol' OR '1'='1", "amount": "1"}, "member_not_found", id="pay-sql-injection-payee"),
    P("carol", "/proposals/{proposal}/withdraw", {}, "proposal_not_found", id="member-withdraws-others-proposal"),
    P("carol", "/reviews/{review}/rate", {"helpfulness": "1"}, "review_not_found", id="member-rates-others-review"),
    P("carol", "/advice/bookings/{booking}/confirm", {}, "booking_not_found", id="member-confirms-others-booking"),
    P(
        "carol",
        "/invitations/{invitation_dave}/accept",
        {},
        "invitation_not_found",
        id="member-accepts-others-invitation",
    ),
    P(
        "carol",
        "/profile",
        {"display_name": "Carol", "review_capacity": "2.5"},
        "invalid_capacity",
        id="profile-float-capacity-via-form",
    ),
]


@pytest.mark.parametrize(("who", "method", "path", "form", "status", "code"), PAGE_CASES)
def test_hostile_page_request_is_refused_and_changes_nothing(world, browsers, who, method, path, form, status, code):
    client, token = browsers[who]
    with unchanged(world.ctx):
        response = client.open(
            path.format(**world.ids), method=method, data={**form, "csrf_token": token} if method == "POST" else None
        )
    refused(response, status, code)


@pytest.mark.parametrize(("who", "path", "form", "code"), FLASH_CASES)
def test_hostile_form_is_refused_with_its_code_and_changes_nothing(world, browsers, who, path, form, code):
    client, token = browsers[who]
    with unchanged(world.ctx):
        response = client.post(path.format(**world.ids), data={**form, "csrf_token": token})
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f'data-code="{code}"' in page, re.findall(r'class="flash[^"]*"[^>]*>([^<]*)', page)
