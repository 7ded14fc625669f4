"""Lifecycles as declared state graphs, checked when defined; one function refuses illegal moves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, and_
from sqlmodel import SQLModel

from .errors import IllegalTransitionError
from .labels import N_, label
from .tables import (
    AdviceBooking,
    AdviceListing,
    FundingLead,
    Member,
    MessageReport,
    Proposal,
    ReviewInvitation,
    table_of,
)

# Why a step is refused, per lifecycle: the thing in its current state (a word of node.labels' group).
REFUSALS = {
    "member": (N_("This account is %(state)s; that is not possible now."), "member_status"),
    "booking": (N_("This session is %(state)s; that is not possible now."), "booking_status"),
    "listing": (N_("This listing is %(state)s; that is not possible now."), "listing_status"),
    "proposal": (N_("This proposal is %(state)s; that is not possible now."), "proposal_status"),
    "invitation": (N_("This invitation is %(state)s; that is not possible now."), "invitation_status"),
    "round": (N_("This review round is %(state)s; that is not possible now."), "round_status"),
    "funding_lead": (N_("This funding lead is %(state)s; that is not possible now."), "funding_lead_status"),
    "report": (N_("This report is %(state)s; that is not possible now."), "report_status"),
}


@dataclass(frozen=True)
class Timeout:
    """A move a sweep makes once a deadline passed: `source` -> `target` at the row's column `at`.

    `grace` names a period in seconds the sweep adds to `at` (an attribute of the settings object it
    passes to `deadline`, e.g. the apply window); empty when `at` holds the deadline itself.
    """

    source: str
    target: str
    at: str
    grace: str = ""

    def deadline(self, row: Any, settings: object = None) -> datetime | None:
        """When the move is due for this row (None while the row has no time in `at`)."""
        when = getattr(row, self.at)
        if when is None or not self.grace:
            return when
        return when + timedelta(seconds=getattr(settings, self.grace))


@dataclass(frozen=True)
class Lifecycle:
    """A named state graph: state -> the states it may move to; the state lives in the row's `field`.

    `timeouts` declare the moves sweeps make by a deadline; with `table`, the state field and
    every deadline column are checked to exist on it.
    """

    name: str
    transitions: Mapping[str, frozenset[str]]
    initial: str
    field: str = "status"
    table: type[SQLModel] | None = None
    timeouts: tuple[Timeout, ...] = ()

    def __post_init__(self) -> None:
        states = set(self.transitions)
        if self.initial not in states:
            raise ValueError(f"{self.name}: initial state {self.initial!r} not declared")
        for state, targets in self.transitions.items():
            missing = set(targets) - states
            if missing:
                raise ValueError(f"{self.name}: {state} -> {sorted(missing)} not declared")
        if self.table is not None and self.field not in table_of(self.table).columns:
            raise ValueError(f"{self.name}: {self.table.__name__} has no state field {self.field!r}")
        sources = [t.source for t in self.timeouts]
        if len(set(sources)) != len(sources):
            raise ValueError(f"{self.name}: a state has more than one timeout")
        for t in self.timeouts:
            if t.target not in self.transitions.get(t.source, frozenset()):
                raise ValueError(f"{self.name}: timeout {t.source} -> {t.target} is not a declared move")
            if self.table is not None and t.at not in table_of(self.table).columns:
                raise ValueError(f"{self.name}: {self.table.__name__} has no deadline field {t.at!r}")

    @property
    def final_states(self) -> frozenset[str]:
        return frozenset(s for s, t in self.transitions.items() if not t)

    def check(self, current: str, target: str) -> None:
        """Raise IllegalTransitionError unless current -> target is declared."""
        if target not in self.transitions.get(current, frozenset()):
            raise IllegalTransitionError(self.refusal(current))

    def move(self, row: Any, target: str, *, field: str | None = None) -> None:
        """Move the row to `target` if the graph allows it from its current state; otherwise refuse, changing nothing.

        `field` is the row's state column, by default the lifecycle's own.
        """
        name = field or self.field
        self.check(getattr(row, name), target)
        setattr(row, name, target)

    def refusal(self, current: str) -> str:
        """The refusal of a step from `current`, in the reader's language."""
        if self.name in REFUSALS:
            message, group = REFUSALS[self.name]
            return _(message, state=label(current, group))
        return _("That is not possible now (the state is “%(state)s”).", state=current.replace("_", " "))

    def timeout(self, source: str) -> Timeout:
        """The timeout declared from `source` (KeyError when there is none)."""
        for t in self.timeouts:
            if t.source == source:
                return t
        raise KeyError(f"{self.name}: no timeout from {source!r}")

    def overdue(self, source: str, now: datetime) -> ColumnElement[bool]:
        """SQL condition on the table: rows in `source` whose deadline (`at`, without grace) is reached."""
        t, table = self.timeout(source), self.table
        if table is None or t.grace:
            raise ValueError(f"{self.name}: overdue() needs the table and a timeout without grace ({source!r})")
        return and_(getattr(table, self.field) == source, getattr(table, t.at) <= now)

    def is_overdue(self, row: Any, source: str, now: datetime) -> bool:
        """The row is in `source` and its timeout's deadline (`at`, without grace) is reached."""
        t = self.timeout(source)
        if t.grace:
            raise ValueError(f"{self.name}: the timeout from {source!r} needs its settings: use deadline()")
        when = t.deadline(row)
        return getattr(row, self.field) == source and when is not None and when <= now


def lifecycle(
    name: str,
    initial: str,
    *,
    field: str = "status",
    table: type | None = None,
    timeouts: tuple[Timeout, ...] = (),
    **graph: str,
) -> Lifecycle:
    """Declare a lifecycle: lifecycle('x', 'a', a='b c', b='', c='')."""
    return Lifecycle(name, {s: frozenset(t.split()) for s, t in graph.items()}, initial, field, table, timeouts)


MEMBER = lifecycle(
    "member", "pending", table=Member, pending="active refused", active="closed", refused="active", closed=""
)

# An advice session. "proposed" holds no money: a helper's offer on a request waits for the
# receiver's consent (a booking on an offer is the receiver's own act: their SIF are held at once,
# and the adviser accepts it, which the row records in accepted_at, or declines it). "declined"
# is a refusal with a reason by whoever was asked. "split" is a coordinator's partial payment of a
# disputed session. An unchallenged claim is paid by the sweep once its dispute period ends
# (pay_unchallenged_claims).
BOOKING = lifecycle(
    "booking",
    "proposed",
    table=AdviceBooking,
    timeouts=(Timeout("claimed", "paid", at="dispute_by"),),
    proposed="booked cancelled declined",
    booked="confirmed claimed cancelled declined",
    claimed="confirmed disputed paid",
    disputed="paid refunded split",
    confirmed="",
    paid="",
    refunded="",
    cancelled="",
    declined="",
    split="",
)

LISTING = lifecycle("listing", "open", table=AdviceListing, open="closed", closed="")

# A funding lead: its poster or a coordinator withdraws it (it then leaves peers and the directory too).
FUNDING_LEAD = lifecycle("funding_lead", "open", table=FundingLead, open="withdrawn", withdrawn="")
# A report of abusive messages, handled by a coordinator (node/services/messages.py).
REPORT = lifecycle("report", "open", table=MessageReport, open="handled", handled="")

PROPOSAL = lifecycle(
    "proposal", "open", table=Proposal, open="completed withdrawn closed", completed="", withdrawn="", closed=""
)

# Sweeps end an invitation not accepted in time and a review not submitted by its due date
# (expire_invitations, time_out_reviews).
INVITATION = lifecycle(
    "invitation",
    "invited",
    table=ReviewInvitation,
    timeouts=(Timeout("invited", "expired", at="accept_by"), Timeout("accepted", "timed_out", at="due_by")),
    invited="accepted declined expired cancelled",
    accepted="submitted timed_out cancelled",
    submitted="",
    declined="",
    expired="",
    timed_out="",
    cancelled="",
)
