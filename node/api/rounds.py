"""JSON API: review rounds (coordinators run them, members submit into them), bids and remote conflicts."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from sqlalchemy.orm import Session

from ..context import node_ctx
from ..services import bids, proposals, rounds
from ..tables import Member, RemoteConflict, ReviewRound
from .base import ANY_OBJECT, BOOL, DATETIME, ApiBlueprint, arr, integer, json_body, obj, only_fields, string
from .reviews import PROPOSAL, PROPOSAL_BODY, proposal_view

api = ApiBlueprint("rounds", "review rounds")

ROUND_STATES = sorted(rounds.ROUND.transitions)
ROUND_ITEM = obj(
    ("proposal_id", "title", "author", "status"),
    proposal_id=integer(),
    title=string(),
    author=string(),
    status=string(),
    open_slots=integer(0),
)
ROUND = obj(
    (
        "id",
        "title",
        "status",
        "deadline",
        "reviews_per_proposal",
        "min_load",
        "max_load",
        "need_foreign",
        "double_blind",
        "progress",
        "progress_message",
        "proposals",
    ),
    id=integer(),
    title=string(),
    status=string(enum=ROUND_STATES),
    deadline=DATETIME,
    reviews_per_proposal=integer(1),
    min_load=integer(0),
    max_load=integer(1),
    need_foreign=BOOL,
    double_blind=BOOL,
    created_at=DATETIME,
    solve_started_at={**DATETIME, "type": ["string", "null"]},
    solved_at={**DATETIME, "type": ["string", "null"]},
    progress=integer(0, 1000),
    progress_message=string(),
    total_affinity={"type": ["integer", "null"]},
    result=ANY_OBJECT,
    proposals=arr(ROUND_ITEM),
)
ROUND_BODY = obj(
    ("title", "deadline", "reviews_per_proposal", "max_load"),
    title=string(200),
    deadline=DATETIME,
    reviews_per_proposal=integer(1, proposals.MAX_REVIEWS),
    min_load=integer(0, rounds.MAX_LOAD),
    max_load=integer(1, rounds.MAX_LOAD),
    need_foreign=BOOL,
    double_blind=BOOL,
)
ROUND_PROPOSAL_BODY = {
    **PROPOSAL_BODY,
    "required": [f for f in PROPOSAL_BODY.get("required", []) if f != "reviews_wanted"],
}
BIDS = obj(("bids",), bids={"type": "object", "additionalProperties": integer(-1, 2)})
REMOTE_CONFLICT = obj(
    ("id", "member", "remote_reviewer", "source", "reason", "created_at"),
    id=integer(),
    member=string(),
    remote_reviewer=string(),
    source=string(enum=["member", "coordinator"]),
    reason=string(),
    created_at=DATETIME,
)
REMOTE_CONFLICT_FIELDS = dict(remote_reviewer=string(97), reason=string(500))


def _me(session: Session) -> Member:
    return session.get_one(Member, g.member.id)


def round_view(session: Session, rnd: ReviewRound, me: Member) -> dict:
    """The round as this member may see it: coordinators everything, members their own proposals only."""
    coordinator = me.role == "coordinator" and me.status == "active"
    assert rnd.id is not None
    items = [
        {
            "proposal_id": p.id,
            "title": p.title,
            "author": session.get_one(Member, p.author_id).handle,
            "status": p.status,
            "open_slots": proposals.open_slots(session, p),
        }
        for _, p in rounds.items_of(session, rnd.id, me)
    ]
    out: dict[str, Any] = {
        "id": rnd.id,
        "title": rnd.title,
        "status": rnd.status,
        "deadline": rnd.deadline,
        "reviews_per_proposal": rnd.reviews_per_proposal,
        "min_load": rnd.min_load,
        "max_load": rnd.max_load,
        "need_foreign": rnd.need_foreign,
        "double_blind": rnd.double_blind,
        "created_at": rnd.created_at,
        "solve_started_at": rnd.solve_started_at,
        "solved_at": rnd.solved_at,
        "progress": rnd.progress,
        "progress_message": rnd.progress_message,
        "proposals": items,
    }
    if coordinator:
        out["total_affinity"], out["result"] = rnd.total_affinity, rnd.result
    else:
        mine = {i["proposal_id"] for i in items}
        out["result"] = {"short": [s for s in rnd.result.get("short", []) if s["proposal_id"] in mine]}
    return out


def remote_conflict_view(session: Session, row: RemoteConflict) -> dict:
    return {
        "id": row.id,
        "member": session.get_one(Member, row.member_id).handle,
        "remote_reviewer": f"{row.remote_handle}@{row.remote_node}",
        "source": row.source,
        "reason": row.reason,
        "created_at": row.created_at,
    }


@api.route("/rounds", "POST", "Open a review round (coordinators)", body=ROUND_BODY, response=ROUND, status=201)
def create_round():
    data = only_fields(json_body(), rounds.ROUND_FIELDS)
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        out = round_view(session, rounds.create_round(session, coordinator=me, data=data, now=ctx.now()), me)
    return jsonify(out), 201


@api.route(
    "/rounds",
    "GET",
    "Review rounds: all for coordinators; open ones and those holding your proposals",
    response=obj(("rounds",), rounds=arr(ROUND)),
)
def list_rounds():
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        return jsonify({"rounds": [round_view(session, r, me) for r in rounds.list_rounds(session, me)]})


@api.route(
    "/rounds/<int:round_id>",
    "GET",
    "A review round with its progress while it is solved, and its result",
    response=ROUND,
)
def get_round(round_id: int):
    ctx = node_ctx()
    with ctx.db.read() as session:
        me = _me(session)
        return jsonify(round_view(session, rounds.visible_round(session, me, round_id), me))


@api.route(
    "/rounds/<int:round_id>/proposals",
    "POST",
    "Write a proposal into an open round: escrow is held now, reviewers are invited when the round is solved",
    body=ROUND_PROPOSAL_BODY,
    response=PROPOSAL,
    status=201,
)
def submit_proposal(round_id: int):
    data = only_fields(json_body(), (*proposals.PROPOSAL_FIELDS, *proposals.OPTIONAL_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        proposal = rounds.submit_proposal(session, ctx.settings, author=me, round_id=round_id, data=data, now=ctx.now())
        out = proposal_view(session, proposal, me)
    return jsonify(out), 201


@api.route(
    "/rounds/<int:round_id>/items",
    "POST",
    "Put an open proposal into an open round (coordinators)",
    body=obj(("proposal_id",), proposal_id=integer(1)),
    response=ROUND,
    status=201,
)
def add_proposal(round_id: int):
    data = only_fields(json_body(), ("proposal_id",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        rounds.add_proposal(
            session, coordinator=me, round_id=round_id, proposal_id=data.get("proposal_id"), now=ctx.now()
        )
        out = round_view(session, rounds.get_round(session, round_id), me)
    return jsonify(out), 201


@api.route(
    "/rounds/<int:round_id>/solve",
    "POST",
    "Close the round and solve it now, in the background; poll the round for progress (coordinators)",
    response=ROUND,
    status=202,
)
def solve(round_id: int):
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        out = round_view(session, rounds.start_solve(session, coordinator=me, round_id=round_id, now=ctx.now()), me)
    rounds.launch(ctx, round_id)  # after the commit: the thread finds the round solving
    return jsonify(out), 202


@api.route(
    "/rounds/<int:round_id>/cancel",
    "POST",
    "Cancel an open or failed round; its proposals are then matched one by one (coordinators)",
    response=ROUND,
)
def cancel(round_id: int):
    ctx = node_ctx()
    with ctx.db.write() as session:
        me = _me(session)
        out = round_view(session, rounds.cancel_round(session, coordinator=me, round_id=round_id, now=ctx.now()), me)
    return jsonify(out)


@api.route("/me/bids", "GET", "Your interest per expertise tag (-1 not interested .. 2 eager)", response=BIDS)
def get_bids():
    ctx = node_ctx()
    with ctx.db.read() as session:
        return jsonify({"bids": bids.bids_of(session, g.member.id)})


@api.route(
    "/me/bids",
    "PUT",
    "Replace your interest levels per tag; matching adds them to the affinity",
    body=BIDS,
    response=BIDS,
)
def put_bids():
    data = only_fields(json_body(), ("bids",))
    ctx = node_ctx()
    with ctx.db.write() as session:
        out = bids.set_bids(session, ctx.settings, member=_me(session), bids=data.get("bids"), now=ctx.now())
    return jsonify({"bids": out})


@api.route(
    "/remote-conflicts",
    "GET",
    "Your conflicts with reviewers on peer nodes (coordinators: ?all=1)",
    response=obj(("conflicts",), conflicts=arr(REMOTE_CONFLICT)),
    query={"all": string(8, enum=["0", "1", "false", "true"])},
)
def list_remote_conflicts():
    ctx = node_ctx()
    with ctx.db.read() as session:
        rows = bids.remote_conflicts(session, _me(session), everyone=request.args.get("all") in ("1", "true"))
        return jsonify({"conflicts": [remote_conflict_view(session, r) for r in rows]})


@api.route(
    "/remote-conflicts",
    "POST",
    "Declare a conflict with a reviewer on a peer node (handle@node)",
    body=obj(("remote_reviewer",), **REMOTE_CONFLICT_FIELDS),
    response=REMOTE_CONFLICT,
    status=201,
)
def declare_remote_conflict():
    data = only_fields(json_body(), tuple(REMOTE_CONFLICT_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        row = bids.declare_remote_conflict(session, ctx.settings, member=_me(session), data=data, now=ctx.now())
        out = remote_conflict_view(session, row)
    return jsonify(out), 201


@api.route(
    "/coordinator/remote-conflicts",
    "POST",
    "Pin a conflict between a member and a reviewer on a peer node (coordinators)",
    body=obj(("member_handle", "remote_reviewer"), member_handle=string(64), **REMOTE_CONFLICT_FIELDS),
    response=REMOTE_CONFLICT,
    status=201,
)
def pin_remote_conflict():
    data = only_fields(json_body(), ("member_handle", *REMOTE_CONFLICT_FIELDS))
    ctx = node_ctx()
    with ctx.db.write() as session:
        row = bids.pin_remote_conflict(session, ctx.settings, coordinator=_me(session), data=data, now=ctx.now())
        out = remote_conflict_view(session, row)
    return jsonify(out), 201


@api.route(
    "/remote-conflicts/<int:conflict_id>",
    "DELETE",
    "Remove a remote conflict you declared (coordinators: any)",
    response=obj(("deleted",), deleted=integer()),
)
def delete_remote_conflict(conflict_id: int):
    ctx = node_ctx()
    with ctx.db.write() as session:
        bids.remove_remote_conflict(session, member=_me(session), conflict_id=conflict_id)
    return jsonify({"deleted": conflict_id})
