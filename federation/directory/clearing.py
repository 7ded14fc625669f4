"""The directory runs clearing rounds: on a schedule and on the working group's button, with its own key.

The directory is the rounds' coordinator; federation/settlement/coordinator.py runs them, this module
gives it what a coordinator needs. Its participants are the listed nodes, reached at their
settlement endpoint with requests signed by the directory's key, which each node pinned when it
applied (`sifnet node directory-apply URL --fingerprint ...`); their answers verify with the keys
the working group pinned when it approved them. The directory has no ledger and takes no part
itself. Its rounds, certificates included, are kept in its own database (the node's round table).
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager

import requests
from flask import Blueprint, current_app, flash, g, jsonify, redirect, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from federation.settlement import coordinator as rounds
from federation.labels import ROUND_STATE
from federation.settlement.transport import SETTLEMENT_PATH, Coordinator, post_signed
from federation.tables import SettlementRound
from node import i18n
from node.errors import DomainError, NotFoundError
from protocol import Envelope, Keyring, SigningKey

from . import listings, network
from .admin import refusal
from .tables import Listing

log = logging.getLogger(__name__)
bp = Blueprint("directory_clearing", __name__)
SWEEP_SECONDS = 15  # how often the directory advances its rounds (retries, deadlines) and checks the schedule
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


class DirectoryCoordinator(Coordinator):
    """The directory as a round's coordinator: listed nodes are its participants."""

    def __init__(self, directory, http: requests.Session | None = None, timeout: float = 10.0) -> None:
        self.ctx, self.node_id = directory, directory.id
        s = directory.settings
        self.deadline_seconds, self.apply_seconds = s.clearing_deadline_seconds, s.clearing_apply_seconds
        self.round_seconds = s.clearing_interval_hours * 3600
        self.http, self.timeout = http or requests.Session(), timeout

    @contextmanager
    def lock(self, name: str):
        with _LOCKS_GUARD:
            lock = _LOCKS.setdefault(f"{self.node_id}:{name}", threading.Lock())
        with lock:
            yield

    takes_part = False

    def schedule_start(self, session):
        """The first scheduled round comes one interval after the first node was listed, not at the first start."""
        return session.scalars(
            select(Listing.approved_at).where(Listing.approved_at.is_not(None)).order_by(Listing.approved_at).limit(1)
        ).first()

    def own_key(self) -> SigningKey:
        return self.ctx.key

    def key_for(self, session, to: str) -> SigningKey:
        return self.ctx.key

    def keyring(self, session) -> Keyring:
        return Keyring.of(
            *[info for row in _listed(session) for info in listings.keyring_of(row.keys, row.node_id).values()]
        )

    def reachable(self, session) -> set[str]:
        return {row.node_id for row in _listed(session)}

    def ask(self, node_id: str, env: Envelope) -> dict:
        with self.ctx.db.read() as session:
            row = session.get(Listing, node_id)
            url = row.base_url.rstrip("/") + SETTLEMENT_PATH if row is not None and row.status == "listed" else ""
        if not url:
            return {"error": {"code": "not_listed", "message": f"{node_id} is not listed in this directory"}}
        return post_signed(
            self.http,
            url,
            env,
            from_node=self.node_id,
            to_node=node_id,
            key=self.ctx.key,
            now=self.ctx.now(),
            timeout=self.timeout,
        )


def _listed(session) -> list[Listing]:
    return list(session.scalars(select(Listing).where(Listing.status == "listed").order_by(Listing.node_id)).all())


def init_clearing(directory) -> None:
    """Create the round table in the directory's database (the same table a node keeps its rounds in)."""
    SettlementRound.__table__.create(directory.db.engine, checkfirst=True)


def start(directory, by: str = listings.OPERATOR) -> dict:
    """Open a round with every listed node and run it as far as it goes now; the round's row. Audited as ``by``."""
    round_id = rounds.start_round(DirectoryCoordinator(directory), include_self=False)
    with directory.db.write() as session:  # after the round's own transactions: the round exists when this is read
        listings.audit(session, username=by, action="clearing-start", reason=round_id, now=directory.now())
        return round_row(rounds.get_round(session, round_id))


def sweep(directory) -> int:
    """Advance the directory's rounds (retries, deadlines, redelivery) and start the scheduled one when due."""
    return rounds.sweep_rounds(DirectoryCoordinator(directory))


def round_row(row: SettlementRound) -> dict:
    """A round as the admin page and the API show it."""
    import json

    plan = json.loads(row.plan or "{}")
    return {
        "round_id": row.round_id,
        "state": row.state,
        "participants": json.loads(row.participants),
        "total_before": row.total_before,
        "total_after": row.total_after,
        "cleared": plan.get("cleared", 0),
        "excluded": json.loads(row.excluded or "[]"),
        "delivered": json.loads(row.delivered or "{}"),
        "reason": row.reason,
        "created_at": row.created_at,
        "finished_at": row.finished_at,
        "deadline": row.deadline,
        "has_certificate": bool(row.certificate),
    }


def recent_rounds(directory, limit: int = 20) -> list[dict]:
    with directory.db.read() as session:
        rows = session.scalars(select(SettlementRound).order_by(SettlementRound.created_at.desc()).limit(limit))
        return [round_row(r) for r in rows]


class ClearingSweeper:
    """A daemon thread running `sweep` every SWEEP_SECONDS (started with the poller by `sifnet directory run`)."""

    def __init__(self, directory, every: float = SWEEP_SECONDS) -> None:
        self.directory, self.every = directory, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="directory-clearing", daemon=True)

    def start(self) -> ClearingSweeper:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                sweep(self.directory)
            except Exception:  # the next sweep tries again; the server keeps running
                log.exception("clearing sweep failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.every + 5)


def register(app) -> None:
    """The routes, the admin partial's data, the round table and (with the poller) the sweeper."""
    d = app.extensions["sifnet_directory"]
    init_clearing(d)
    app.register_blueprint(bp)


def _directory():
    return current_app.extensions["sifnet_directory"]


def panel(directory) -> dict:
    """The admin page's clearing rounds: the public history's rows (network.clearing, one source), and for the
    rounds the directory ran, what only the working group acts on (left-out pairs, notes, redelivery)."""
    with directory.db.read() as session:
        rows = network.clearing(session, network.listed(session), directory.id)
    return {
        "rounds": rows,
        "details": {r["round_id"]: r for r in recent_rounds(directory, network.CLEARING_ROWS)},
        "every_hours": directory.settings.clearing_interval_hours,
    }


@bp.app_context_processor
def _panel():
    return {"clearing_panel": lambda: panel(_directory())}


def _admin_required(view):
    from .admin import admin_required  # the working group's login (federation/directory/admin.py)

    return admin_required(view)


@bp.post("/admin/clearing/start")
@_admin_required
def start_now():
    """The working group's button: a clearing round with every listed node, now."""
    try:
        row = start(_directory(), by=g.admin)
        flash(
            _(
                "Clearing round %(round)s: %(state)s, %(amount)s cleared.",
                round=row["round_id"],
                state=ROUND_STATE(row["state"]),
                amount=i18n.sif_filter(row["cleared"]),
            ),
            "info",
        )
        if row["reason"]:
            flash(row["reason"], "info")  # what the round recorded, as it was written (the nodes' own words)
    except DomainError as exc:
        flash(refusal(exc), "error")
    return redirect(url_for("directory.admin.home") + "#clearing-rounds", 303)


@bp.post("/admin/clearing/<round_id>/redeliver")
@_admin_required
def redeliver(round_id: str):
    """Offer an undelivered round's certificate again to the nodes that never applied it."""
    try:
        d = _directory()
        state = rounds.redeliver(DirectoryCoordinator(d), round_id)
        with d.db.write() as session:
            listings.audit(session, username=g.admin, action="redeliver", reason=round_id, now=d.now())
        flash(_("Clearing round %(round)s: %(state)s.", round=round_id, state=ROUND_STATE(state)), "info")
    except DomainError as exc:
        flash(refusal(exc), "error")
    return redirect(url_for("directory.admin.home") + "#clearing-rounds", 303)


@bp.get("/api/v1/clearing-rounds")
def api_rounds():
    """The rounds this directory ran, newest first."""
    return jsonify({"rounds": recent_rounds(_directory(), 200)})


@bp.get("/api/v1/clearing-rounds/<round_id>/certificate")
def api_certificate(round_id: str):
    """A round's certificate, verbatim: anyone holding the node documents can verify it."""
    from flask import Response

    with _directory().db.read() as session:
        row = rounds.get_round(session, round_id)
        if not row.certificate:
            raise NotFoundError(
                _("Round %(round)s has no certificate: it is %(state)s.", round=round_id, state=ROUND_STATE(row.state)),
                code="no_certificate",
            )
        return Response(row.certificate, mimetype="application/json")
