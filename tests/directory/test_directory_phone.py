"""Every page of the network directory on a 390 x 844 phone, by the rules of tests/phone.py.

The pages come from the directory's URL map (every GET rule of its web blueprints, less the machine endpoints),
opened by a visitor and by a working-group member logged in, on the data of five polled fake nodes with funding
leads. Screenshots go to test-artifacts/browser/directory_phone/.
"""

from __future__ import annotations

import pytest

from federation.directory import admin
from tests.browser_fixtures import ARTIFACTS
from tests.phone import PHONE, phone_problems

pytestmark = pytest.mark.browser

FOLDER = ARTIFACTS / "directory_phone"
PASSWORD = "correct horse battery"
# Endpoints that serve no page a person reads; every other GET endpoint is walked.
NOT_PAGES = {"static", "node_assets.static", "directory.healthz", "directory.document"}
# Path values for the pages that take one, and a query that fills the scan page with results.
PATHS = {"directory.node_page": "/nodes/hu", "directory.scan_page": "/scan?initiative=be-vl:i-2"}


def pages(app) -> dict[str, str]:
    """Endpoint -> path of every page of the directory's URL map."""
    found = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint in NOT_PAGES or rule.endpoint.startswith("directory_"):
            continue  # directory_api and directory_clearing answer JSON and CSV
        assert rule.endpoint in PATHS or not rule.arguments, f"give {rule.endpoint} a path in PATHS"
        found[rule.endpoint] = PATHS.get(rule.endpoint, rule.rule)
    return found


def test_every_directory_page_works_on_a_phone(directory_app, directory, polled_directory, new_page):
    FOLDER.mkdir(parents=True, exist_ok=True)
    with directory.db.write() as s:
        admin.add_admin(
            s, username="ines", password=PASSWORD, now=directory.now(), hasher=admin.password_hasher(directory.settings)
        )
    walk = pages(directory_app)
    assert {"directory.funding_page", "directory.admin.home", "directory.admin.audit_page"} <= set(walk)
    visitor = new_page(polled_directory, **PHONE)
    member = new_page(polled_directory, **PHONE)
    member.goto("/admin/login")
    member.fill("input[name=username]", "ines")
    member.fill("input[name=password]", PASSWORD)
    member.locator("#login button").click()
    member.wait_for_url("**/admin/")
    failures = {}
    for endpoint, path in sorted(walk.items()):
        page, who = (member, "wg") if endpoint.startswith("directory.admin.") else (visitor, "visitor")
        response = page.goto(path)
        if response is None or response.status != 200:
            failures[endpoint] = [f"{path} answered {response and response.status}"]
            continue
        page.screenshot(path=str(FOLDER / f"{who}-{endpoint.rsplit('.', 1)[-1]}.png"), full_page=True)
        if problems := phone_problems(page):
            failures[endpoint] = [path, *problems]
    report = "\n".join(f"{endpoint}: {' | '.join(lines)}" for endpoint, lines in sorted(failures.items()))
    assert not failures, f"{len(failures)} of {len(walk)} directory pages fail on a phone:\n{report}"
