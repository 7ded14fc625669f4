"""Every page of a node carries the security headers and no inline script, style or handler; JSON gets nosniff."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from node.security_headers import add_security_headers
from tests.page_checks import get_rules_without_arguments, header_problems, inline_code
from tests.procs import REPO

from .test_web import login

PROPOSAL = {
    "title": "Repair café network",
    "summary": "Neighbours fix things.\nTwice a month.",
    "full_text": "A van and three volunteers.",
    "tags": ["circular-economy"],
    "language": "en",
    "stage": "pilot",
    "reviews_wanted": 1,
    "bounty": 1,
}
TEMPLATE_DIRS = ("node/templates", "federation/templates", "federation/directory/templates")


@pytest.fixture
def pages(app, make_member, token_for):
    """A member with a proposal and an advice offer, a reviewer and a coordinator, each logged in to a browser."""
    anna = make_member("anna")
    make_member("bob", is_reviewer=True, languages=["en"], expertise=["circular-economy"])
    make_member("coord", role="coordinator")
    api = app.test_client()
    proposal = api.post("/api/v1/proposals", headers=token_for(anna), json=PROPOSAL)
    listing = api.post(
        "/api/v1/advice/listings",
        headers=token_for(anna),
        json={"kind": "offer", "title": "Grants", "description": "One.\nTwo.", "rate": 1, "tags": ["education"]},
    )
    lead = api.post(
        "/api/v1/funding",
        headers=token_for(anna),
        json={"title": "Fund", "url": "https://example.org/f", "description": "One.\nTwo.", "topics": ["education"]},
    )
    assert (proposal.status_code, listing.status_code, lead.status_code) == (201, 201, 201), (
        proposal.json,
        listing.json,
        lead.json,
    )
    browsers = {"anonymous": app.test_client()}
    for handle in ("anna", "bob", "coord"):
        browsers[handle] = app.test_client()
        login(browsers[handle], f"{handle}@example.org")
    extra = [
        f"/proposals/{proposal.json['id']}",
        f"/advice/listings/{listing.json['id']}",
        f"/funding/leads/{lead.json['id']}",
        "/static/style.css",
    ]
    return browsers, extra


def test_every_get_page_has_the_headers_and_no_inline_code(app, pages):
    browsers, extra = pages
    paths = get_rules_without_arguments(app) + extra
    assert len(paths) >= 30 and "/dashboard" in paths and "/coordinator/" in paths, paths  # the walk finds pages
    problems, html_pages = [], 0
    for who, browser in browsers.items():
        for path in paths:
            response = browser.get(path)
            problems += [(who, path, p) for p in header_problems(response)]
            if response.mimetype == "text/html":
                html_pages += response.status_code == 200
                problems += [(who, path, p) for p in inline_code(response.get_data(as_text=True))]
            response.close()  # a static file's answer holds the file open
    assert problems == []
    assert html_pages >= 40, html_pages  # real pages were checked, not just redirects to the login


def test_json_answers_and_errors_get_nosniff(client):
    for path in ("/api/v1/me", "/healthz", "/api/v1/openapi.json"):
        response = client.get(path)
        assert response.is_json and response.headers["X-Content-Type-Options"] == "nosniff", path
    page = client.get("/no-such-page")
    assert page.status_code == 404 and header_problems(page) == []


def test_a_view_may_set_its_own_header(app):
    """setdefault: a view that needs another policy for one answer keeps it."""
    with app.test_request_context("/"):
        response = app.make_response(("<p>x</p>", 200, {"X-Frame-Options": "SAMEORIGIN"}))
        add_security_headers(response)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN" and "Content-Security-Policy" in response.headers


@pytest.mark.parametrize("folder", TEMPLATE_DIRS)
def test_no_template_has_inline_script_style_or_handlers(folder):
    """Pages behind URL arguments the walk above does not reach are covered at their source."""
    found = {}
    templates = sorted((Path(REPO) / folder).rglob("*.html"))
    assert templates, folder
    for path in templates:
        text = re.sub(r"{#.*?#}", "", path.read_text(encoding="utf-8"), flags=re.S)  # Jinja comments
        if inline_code(text):
            found[str(path.relative_to(REPO))] = inline_code(text)
    assert found == {}
