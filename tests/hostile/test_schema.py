"""Schemathesis against the node's own OpenAPI document (in-process WSGI): no 5xx, responses as documented."""

from __future__ import annotations

import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from federation.state import federation_of
from node.app import create_app
from node.clock import FixedClock
from tests.conftest import FAST_ARGON2, START

from .conftest import BASE_URL, World, seed_member, seed_world

# Bounded and derandomized: the same examples every run, the whole document in well under two minutes.
EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
COORDINATOR_PREFIXES = ("/api/v1/coordinator", "/api/v1/federation")
# Path variables that name a seeded object: an even generated value is swapped for the real id, so
# half the cases reach real objects and the other half the not-found paths.
SEEDED = {
    "proposal_id": "proposal",
    "invitation_id": "invitation_dave",
    "review_id": "review",
    "listing_id": "listing",
    "booking_id": "booking",
    "member_id": "pete",
}
_fresh = itertools.count(1)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    app = create_app(
        {
            "data_dir": str(tmp_path_factory.mktemp("schema") / "be-vl"),
            "node_id": "be-vl",
            "base_url": BASE_URL,
            "live_stream_seconds": 0,  # GET /api/v1/events sends what is waiting and ends: each case gets its answer
            **FAST_ARGON2,
        },
        clock=FixedClock(START),
        start_delivery=False,
    )
    world = World(app=app, ctx=app.extensions["sifnet"])
    seed_world(world)
    yield world
    federation_of(app).stop()
    world.ctx.db.dispose()


def headers_for(node, case) -> dict:
    if case.operation.path in ("/api/v1/me/close", "/api/v1/coordinator/members/{member_id}/role"):
        # closing an account or demoting a coordinator would log the shared token out for every later case
        _, token = seed_member(node.ctx, f"throwaway{next(_fresh)}", role="coordinator")
        return {"Authorization": f"Bearer {token}"}
    who = "coord" if case.operation.path.startswith(COORDINATOR_PREFIXES) else "anna"
    return node.auth(who)


def check_operation(node, operation) -> None:
    """Run EXAMPLES generated cases of one operation against the app, with every check."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        for name, key in SEEDED.items():
            value = (case.path_parameters or {}).get(name)
            if isinstance(value, int) and value % 2 == 0:
                case.path_parameters[name] = node.ids[key]
            elif isinstance(value, int) and name == "member_id":
                case.path_parameters[name] = value + 10**6  # never demote or refuse the seeded coordinator
        if isinstance(case.body, dict) and isinstance(case.body.get("to"), str) and len(case.body["to"]) % 2 == 0:
            case.body["to"] = "carol"  # half the payments go to a real payee, so success answers are checked too
        case.call_and_validate(headers=headers_for(node, case), checks=CHECKS)

    run()


def test_api_conforms_to_its_openapi_document(node):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", node.app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60, len(operations)
    failures = []
    for operation in operations:
        try:
            check_operation(node, operation)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert not failures, "\n\n".join(failures)
