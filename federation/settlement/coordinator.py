"""Running a clearing round: collect statements, compute the set-off, propose, gather acceptances, certify.

The coordinator needs no ledger of its own: it talks to participants through its `ask` (a
signed direct message, or a local call when it takes part itself) and keeps its round in one
row. It is a node (settlement_transport.NodeCoordinator) or the network directory
(federation/directory/clearing.py): the same code runs both.
Each step is a short transaction between HTTP calls and may run again (from the API, the
sweep or the CLI): participants answer a repeated statement request or proposal with the
same signed answer, and a certificate goes out in a fresh envelope around the same body
until every participant has applied it.

collecting -> computed -> proposed -> certified -> settled. A round is abandoned, changing
nothing anywhere, when a participant refuses or its deadline passes with an answer missing;
it is `empty` when there is nothing to clear, `undelivered` when a participant could not be
given the certificate within the apply window (offered again until it applies it: `settled`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import datetime, timedelta
from itertools import combinations

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from node.errors import ConflictError, DomainError, NotFoundError, ValidationError
from node.lifecycle import Timeout, lifecycle
from protocol import Envelope, envelope_hash, format_time, make_envelope, sign_envelope
from protocol.netting import set_off

from . import settlement
from .identity import new_envelope_id
from .labels import ROUND_STATE
from .settlement_transport import BadAnswer, Coordinator, checked_answer, coordinator_of, signed
from .tables import SettlementRound

log = logging.getLogger(__name__)
# The deadline abandons a round still waiting for answers (_step); a certified round not delivered
# to everyone within the apply window after it is undelivered (_deliver; `apply_seconds` is the
# coordinator's, a node's or the directory's setting).
ROUND = lifecycle(
    "clearing round",
    "collecting",
    field="state",
    table=SettlementRound,
    timeouts=(
        Timeout("collecting", "abandoned", at="deadline"),
        Timeout("computed", "abandoned", at="deadline"),
        Timeout("proposed", "abandoned", at="deadline"),
        Timeout("certified", "undelivered", at="deadline", grace="apply_seconds"),
    ),
    collecting="computed empty abandoned",
    computed="proposed abandoned",
    proposed="certified abandoned",
    certified="settled undelivered",
    settled="",
    empty="",
    abandoned="",
    undelivered="settled",
)
WAITING = ("collecting", "computed", "proposed")
DONE = ("applied", "already_applied")
MAX_PARTICIPANTS = 64
RESTATES = 3  # times the nodes of a pair with entries in flight are asked again before the round goes on


def start_round(
    fed,
    *,
    participants: list[str] | None = None,
    deadline_seconds: object = None,
    propose: bool = True,
    include_self: bool = True,
    actor_id: int | None = None,
) -> str:
    """Open a round (default participants: this node and every active peer) and run it as far as it goes.

    `actor_id`: the coordinator who started it; None for the schedule or the operator's command.
    """
    co = coordinator_of(fed)
    ctx = co.ctx
    seconds = co.deadline_seconds if deadline_seconds is None else deadline_seconds
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 10 <= seconds <= 86400:
        raise ValidationError(
            _("The deadline must be %(low)s to %(high)s seconds away.", low=10, high=86400),
            code="invalid_deadline",
            field="deadline_seconds",
        )
    with ctx.db.write() as session:
        now = ctx.now()
        busy = open_round(session, co, now)
        if busy is not None:
            raise ConflictError(
                _(
                    "Round %(round)s is not over yet (%(state)s); start the next one when it is.",
                    round=busy.round_id,
                    state=ROUND_STATE(busy.state),
                ),
                code="round_open",
            )
        chosen = choose_participants(session, co, participants, include_self and co.takes_part)
        round_id = f"{co.node_id}-{uuid.uuid4().hex[:24]}"
        session.add(
            SettlementRound(
                round_id=round_id,
                state=ROUND.initial,
                participants=json.dumps(chosen),
                deadline=now + timedelta(seconds=seconds),
                auto_propose=bool(propose),
                created_at=now,
            )
        )
        detail = {"participants": chosen, "propose": bool(propose)}
        co.record(session, actor_id, "clearing_started", round_id, detail, now)
    advance_round(co, round_id)
    return round_id


def open_round(session, co: Coordinator, now: datetime) -> SettlementRound | None:
    """Our round that is not over: waiting for answers, or certified and still being delivered."""
    window = timedelta(seconds=co.apply_seconds)
    rows = session.scalars(select(SettlementRound).where(SettlementRound.state.in_((*WAITING, "certified")))).all()
    return next((r for r in rows if r.state in WAITING or now <= r.deadline + window), None)


def choose_participants(session, co: Coordinator, given: object, include_self: bool) -> list[str]:
    """Each participant is this node or one it reaches (an active peer, or a node the directory lists); 2 to 64."""
    active = co.reachable(session)
    if given is None:
        chosen = sorted(active | ({co.node_id} if include_self else set()))
    else:
        if not isinstance(given, list) or not all(isinstance(n, str) for n in given):
            raise ValidationError(
                _("The participants are a list of node names."), code="invalid_participants", field="participants"
            )
        chosen = sorted(set(given))
        strangers = [n for n in chosen if n != co.node_id and n not in active]
        if strangers:
            raise ValidationError(
                ngettext(
                    "%(nodes)s is not an active peer.",
                    "%(nodes)s are not active peers.",
                    len(strangers),
                    nodes=", ".join(strangers),
                ),
                code="unknown_participant",
                field="participants",
            )
    if not 2 <= len(chosen) <= MAX_PARTICIPANTS:
        raise ValidationError(
            ngettext(
                "A round needs 2 to %(max)s participants; %(num)d was chosen.",
                "A round needs 2 to %(max)s participants; %(num)d were chosen.",
                len(chosen),
                max=MAX_PARTICIPANTS,
            ),
            code="invalid_participants",
            field="participants",
        )
    return chosen


def propose(fed, round_id: str) -> str:
    """Send a computed (previewed) round's proposal now."""
    co = coordinator_of(fed)
    with co.ctx.db.write() as session:
        row = get_round(session, round_id)
        if row.state != "computed":
            raise ConflictError(
                _(
                    "Round %(round)s cannot be proposed now: it is %(state)s.",
                    round=round_id,
                    state=ROUND_STATE(row.state),
                ),
                code="round_not_computed",
            )
        row.auto_propose = True
    return advance_round(co, round_id)


def abandon(fed, round_id: str, reason: str, actor_id: int | None = None) -> str:
    """Give up a round that is still waiting; nothing is applied anywhere."""
    co = coordinator_of(fed)
    with co.ctx.db.write() as session:
        row = get_round(session, round_id)
        if row.state not in WAITING:
            raise ConflictError(
                _(
                    "Round %(round)s can no longer be abandoned: it is %(state)s.",
                    round=round_id,
                    state=ROUND_STATE(row.state),
                ),
                code="round_not_waiting",
            )
        reason = reason or "abandoned by the coordinator"
        return _finish(co, session, row, "abandoned", reason, co.ctx.now(), actor_id=actor_id)


def advance_round(fed, round_id: str) -> str:
    """Take the round as far as it can go now; returns its state."""
    co = coordinator_of(fed)
    with co.lock(f"round:{round_id}"):
        while _step(co, round_id) is not None:
            pass
    with co.ctx.db.read() as session:
        return get_round(session, round_id).state


def _step(co: Coordinator, round_id: str) -> str | None:
    """One step; the new state, or None when the round waits (or is over)."""
    with co.ctx.db.write() as session:
        row, now = get_round(session, round_id), co.ctx.now()
        if row.state in WAITING and now > row.deadline:
            answered = json.loads(row.acceptances if row.state == "proposed" else row.statements)
            missing = [p for p in json.loads(row.participants) if p not in answered]
            why = f"deadline passed; no answer from {', '.join(missing)}" if missing else "deadline passed"
            return _finish(co, session, row, "abandoned", f"{why}. {row.reason}", now)
        state, auto = row.state, row.auto_propose
    if state == "collecting":
        return _collect(co, round_id)
    if state == "computed" and auto:
        return _propose(co, round_id)
    if state == "proposed":
        return _gather(co, round_id)
    if state == "certified":
        return _deliver(co, round_id)
    return None


def get_round(session, round_id: str) -> SettlementRound:
    row = session.get(SettlementRound, round_id)
    if row is None:
        raise NotFoundError(_("There is no clearing round %(round)s here.", round=round_id), code="round_not_found")
    return row


def _finish(
    co: Coordinator, session, row: SettlementRound, state: str, reason: str, now: datetime, actor_id: int | None = None
) -> str:
    """End a round in a final (or undelivered) state; the coordinator's audit log keeps the outcome."""
    ROUND.move(row, state)
    row.reason, row.finished_at = reason.strip()[:1000], now
    cleared = json.loads(row.plan).get("cleared", 0) if row.plan else 0
    co.record(session, actor_id, f"clearing_{state}", row.round_id, {"reason": row.reason, "cleared": cleared}, now)
    return state


def _move(row: SettlementRound, state: str) -> str:
    ROUND.move(row, state)
    return state


def _collect(co: Coordinator, round_id: str) -> str | None:
    """Ask every participant we have no statement from; compute once all are in.

    A pair stated at different channel points (entries in flight) would be left out, so its two
    nodes are asked again, a few times, before the round goes ahead without that pair.
    """
    for attempt in range(RESTATES + 1):
        outcome = _collect_once(co, round_id, restate=attempt < RESTATES)
        if outcome != "restate":
            return outcome
        time.sleep(0.1 * (attempt + 1))  # give the entries in flight a moment to land
    return None


def _collect_once(co: Coordinator, round_id: str, restate: bool) -> str | None:
    ctx = co.ctx
    with ctx.db.read() as session:
        row, now = get_round(session, round_id), ctx.now()
        have = json.loads(row.statements)
        asks = {
            p: signed(session, co, "position_statement", p, {"round_id": round_id, "positions": []}, now)
            for p in json.loads(row.participants)
            if p not in have
        }
    got, errors = {}, {}
    for p, env in asks.items():
        try:
            got[p] = checked_answer(co, co.ask(p, env), "statement", "position_statement", p, round_id).to_dict()
        except BadAnswer as exc:
            errors[p] = str(exc)
    with ctx.db.write() as session:
        row = get_round(session, round_id)
        if row.state != "collecting":
            return None
        participants = json.loads(row.participants)
        have = {**json.loads(row.statements), **got}
        row.statements, row.reason = json.dumps(have, sort_keys=True), _errors_text(errors)
        if len(have) < len(participants):
            return None
        excluded = plan_round(participants, {p: env["body"] for p, env in have.items()})[3]
        busy = {n for x in excluded if x["kind"] == "in_flight" for n in x["pair"]}
        if restate and busy:
            row.statements = json.dumps({p: env for p, env in have.items() if p not in busy}, sort_keys=True)
            return "restate"
        return _compute(co, session, row, ctx.now())


def plan_round(participants: list[str], statements: dict[str, dict]) -> tuple[list, list, dict, list]:
    """Debts, peered pairs and limits from the pairs on which both sides agree; the rest left out, with why."""
    stated = {p: {e["peer"]: e for e in body["positions"]} for p, body in statements.items()}
    debts, peered, limits, excluded = [], [], {}, []
    for a, b in combinations(sorted(participants), 2):
        ab, ba = stated[a].get(b), stated[b].get(a)
        if ab is None and ba is None:
            continue
        if ab is None or ba is None:
            kind, why = "missing", f"{a if ab is None else b} states no position (not an active peer, or a dispute)"
        elif (ab["as_of_seq_sent"], ab["as_of_seq_received"]) != (ba["as_of_seq_received"], ba["as_of_seq_sent"]):
            kind, why = "in_flight", "stated at different channel points (entries in flight)"
        elif ab["position"] + ba["position"] != 0:
            kind, why = "mismatch", f"positions do not mirror: {a} states {ab['position']}, {b} {ba['position']}"
        else:
            kind = ""
        if kind:
            excluded.append({"pair": [a, b], "kind": kind, "reason": why})
            continue
        peered.append((a, b))
        limits[(b, a)], limits[(a, b)] = ab.get("trust_limit", 0), ba.get("trust_limit", 0)
        if ab["position"]:  # positive: b owes a
            debts.append((b, a, ab["position"]) if ab["position"] > 0 else (a, b, -ab["position"]))
    return debts, peered, limits, excluded


def _compute(co: Coordinator, session, row: SettlementRound, now: datetime) -> str:
    statements = {p: env["body"] for p, env in json.loads(row.statements).items()}
    debts, peered, limits, excluded = plan_round(json.loads(row.participants), statements)
    result = set_off(debts, peered=peered, limits=limits)
    row.excluded = json.dumps(excluded)
    row.plan = json.dumps(
        {
            "before": [d.to_dict() for d in result.before],
            "after": [d.to_dict() for d in result.after],
            "cleared": result.cleared,
        }
    )
    row.total_before, row.total_after = result.total_before, result.total_after
    if result.cleared == 0:
        return _finish(co, session, row, "empty", "nothing to clear", now)
    return _move(row, "computed")


def _propose(co: Coordinator, round_id: str) -> str | None:
    with co.ctx.db.write() as session:
        row, now = get_round(session, round_id), co.ctx.now()
        if row.state != "computed":
            return None
        plan = json.loads(row.plan)
        body = {
            "round_id": round_id,
            "participants": json.loads(row.participants),
            "deadline": format_time(row.deadline),
            "before": plan["before"],
            "after": plan["after"],
            "cleared": plan["cleared"],
        }
        env = make_envelope(
            type="settlement_proposal", from_=co.node_id, to="*", created=now, body=body, id=new_envelope_id()
        )
        env = sign_envelope(env, co.own_key())
        row.proposal, row.proposal_hash = settlement.stored(env), envelope_hash(env)
        return _move(row, "proposed")


def _gather(co: Coordinator, round_id: str) -> str | None:
    """Send the proposal to every participant that has not answered; certify once all accepted."""
    ctx = co.ctx
    with ctx.db.read() as session:
        row = get_round(session, round_id)
        proposal, answers = settlement.load(row.proposal), json.loads(row.acceptances)
        pending = [p for p in json.loads(row.participants) if p not in answers]
    got, errors = {}, {}
    for p in pending:
        try:
            acc = checked_answer(co, co.ask(p, proposal), "acceptance", "settlement_acceptance", p, round_id)
            if acc.body["proposal_hash"] != envelope_hash(proposal):
                raise BadAnswer("the acceptance names another proposal")
            got[p] = acc.to_dict()
        except BadAnswer as exc:
            errors[p] = str(exc)
    with ctx.db.write() as session:
        row, now = get_round(session, round_id), ctx.now()
        if row.state != "proposed":
            return None
        answers = {**json.loads(row.acceptances), **got}
        row.acceptances, row.reason = json.dumps(answers, sort_keys=True), _errors_text(errors)
        refused = {p: a["body"].get("reason", "") for p, a in sorted(answers.items()) if not a["body"]["accept"]}
        if refused:
            why = "refused by " + "; ".join(f"{p} ({r})" for p, r in refused.items())
            return _finish(co, session, row, "abandoned", why, now)
        participants = json.loads(row.participants)
        if len(answers) < len(participants):
            return None
        body = {"round_id": round_id, "proposal": proposal.to_dict(), "acceptances": [answers[p] for p in participants]}
        row.certificate = settlement.stored(_certificate(co, body, now))
        return _move(row, "certified")


def _certificate(co: Coordinator, body: dict, now: datetime) -> Envelope:
    env = make_envelope(
        type="settlement_certificate", from_=co.node_id, to="*", created=now, body=body, id=new_envelope_id()
    )
    return sign_envelope(env, co.own_key())


def _deliver(co: Coordinator, round_id: str) -> str | None:
    """Give every participant the certificate (a fresh envelope each try, the same body) until all applied it.

    Past the apply window a certified round is `undelivered`; it is still offered (see `redeliver`), and a
    participant that never got it applies it then, so the pair's positions mirror again.
    """
    ctx, undelivered = co.ctx, ROUND.timeout("certified")
    with ctx.db.read() as session:
        row, now = get_round(session, round_id), ctx.now()
        body, delivered = settlement.load(row.certificate).body, json.loads(row.delivered)
        pending = [p for p in json.loads(row.participants) if delivered.get(p, {}).get("status") not in DONE]
        late = row.state == undelivered.source and now > undelivered.deadline(row, co)
    results = {} if late else {p: co.ask(p, _certificate(co, body, now)) for p in pending}
    with ctx.db.write() as session:
        row, now = get_round(session, round_id), ctx.now()
        if row.state not in ("certified", "undelivered"):
            return None
        delivered = json.loads(row.delivered)
        for p, answer in results.items():
            error = answer.get("error") or {}
            delivered[p] = (
                {"status": answer["status"]}
                if answer.get("status") in DONE
                else {
                    "status": "failed",
                    "error": f"{error.get('code', 'bad_answer')}: {error.get('message', '')}"[:300],
                }
            )
        row.delivered = json.dumps(delivered, sort_keys=True)
        missing = [p for p in json.loads(row.participants) if delivered.get(p, {}).get("status") not in DONE]
        if not missing:
            return _finish(co, session, row, "settled", "", now)
        if late:
            why = f"never applied by {', '.join(missing)}: their pairs diverge"
            return _finish(co, session, row, undelivered.target, why, now)
        return None


def redeliver(fed, round_id: str) -> str:
    """Offer an undelivered round's certificate again to the participants that never applied it; its state."""
    co = coordinator_of(fed)
    with co.ctx.db.read() as session:
        state = get_round(session, round_id).state
    if state != "undelivered":
        raise ConflictError(
            _(
                "Round %(round)s has no certificate left to deliver: it is %(state)s.",
                round=round_id,
                state=ROUND_STATE(state),
            ),
            code="round_not_undelivered",
        )
    with co.lock(f"round:{round_id}"):
        _deliver(co, round_id)
    with co.ctx.db.read() as session:
        return get_round(session, round_id).state


def _errors_text(errors: dict[str, str]) -> str:
    return "; ".join(f"{p}: {e}" for p, e in sorted(errors.items()))[:1000]


def sweep_rounds(fed) -> int:
    """Deadlines and retries of our rounds, lapsed participations, and the scheduled round if one is due."""
    co = coordinator_of(fed)
    moved = co.lapse_overdue()
    with co.ctx.db.read() as session:
        states = session.execute(
            select(SettlementRound.round_id, SettlementRound.state).where(
                SettlementRound.state.in_((*WAITING, "certified", "undelivered"))
            )
        ).all()
    for round_id, state in states:
        try:
            moved += (redeliver(co, round_id) if state == "undelivered" else advance_round(co, round_id)) != state
        except Exception:  # one broken round must not stop the others
            log.exception("advancing round %s failed", round_id)
    return moved + _scheduled_round(co)


def _scheduled_round(co: Coordinator) -> int:
    every = co.round_seconds
    if every <= 0:
        return 0
    with co.ctx.db.read() as session:
        last = session.scalars(
            select(SettlementRound.created_at).order_by(SettlementRound.created_at.desc()).limit(1)
        ).first()
        last = max((t for t in (last, co.schedule_start(session)) if t is not None), default=None)
    if last is not None and co.ctx.now() < last + timedelta(seconds=every):
        return 0
    try:
        start_round(co)
    except DomainError as exc:  # a round still open, or too few participants: try again next period
        log.info("scheduled clearing round not started: %s", exc.message)
        return 0
    return 1
