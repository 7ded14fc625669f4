"""A review round on one node assigns a reviewer on another node, between real node processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from .conftest import check_books, wait_until
from .reviewnet import REVIEW, invitation_states, proposal, reviewer, start_nodes, wait_in_pool, wait_incoming

BODY = {
    "title": "Laptops for the library",
    "summary": "Refurbished laptops lent by public libraries.",
    "full_text": "The full plan.",
    "tags": ["education"],
    "language": "en",
    "stage": "pilot",
    "bounty": 3,
}


@pytest.mark.slow
def test_a_round_in_italy_invites_a_reviewer_in_hungary(node_process):
    nodes = start_nodes(node_process, "it", "hu")
    it, hu = nodes["it"], nodes["hu"]
    zsofia, profile = reviewer(hu, "zsofia", ["education"])
    reviewer(it, "luca", ["education"])
    giulia, marco = it.new_member("giulia"), it.new_member("marco")
    wait_in_pool(it, "hu", profile["pseudonym"])
    address = f"{profile['pseudonym']}@hu"
    coord = it.coordinator()
    # marco knows the Hungarian reviewer: the coordinator pins the conflict by the pool's handle@node.
    coord.call(
        "POST", "/coordinator/remote-conflicts", {"member_handle": "marco", "remote_reviewer": address}, expect=201
    )
    deadline = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    rnd = coord.call(
        "POST",
        "/rounds",
        {"title": "Spring", "deadline": deadline, "reviews_per_proposal": 1, "max_load": 1, "need_foreign": True},
        expect=201,
    ).json()
    mine = giulia.call("POST", f"/rounds/{rnd['id']}/proposals", BODY, expect=201).json()
    his = marco.call("POST", f"/rounds/{rnd['id']}/proposals", BODY, expect=201).json()
    assert mine["invitations"] == [] and giulia.balance() == 7
    assert coord.call("POST", f"/rounds/{rnd['id']}/solve", expect=202).json()["status"] == "solving"
    done = wait_until(
        lambda: (lambda r: r if r["status"] == "solved" else None)(
            coord.call("GET", f"/rounds/{rnd['id']}", expect=200).json()
        ),
        what="the round solved",
    )
    assert done["progress"] == 1000
    # giulia's proposal gets the foreign reviewer; marco's cannot (conflict), so it is short of a foreign one.
    assert invitation_states(giulia, mine["id"]) == [(address, "invited")]
    assert invitation_states(marco, his["id"]) == [("luca", "invited")]
    assert [(u["kind"], u["key"]) for u in done["result"]["unmet"]] == [("foreign", str(his["id"]))]
    invite = wait_incoming(zsofia)
    assert invite["title"] == BODY["title"] and invite["bounty"] == 3 and "full_text" not in invite
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/accept", expect=200)
    wait_until(lambda: invitation_states(giulia, mine["id"]) == [(address, "accepted")], what="the acceptance")
    wait_until(
        lambda: zsofia.call("GET", f"/remote-invitations/{invite['id']}", expect=200).json().get("full_text"),
        what="the full text after acceptance",
    )
    zsofia.call("POST", f"/remote-invitations/{invite['id']}/review", REVIEW, expect=201)
    wait_until(lambda: proposal(giulia, mine["id"])["status"] == "completed", what="the review arrives")
    wait_until(lambda: zsofia.balance() == 13, what="the bounty credited at home")
    assert giulia.balance() == 7
    check_books(it)
    check_books(hu)
