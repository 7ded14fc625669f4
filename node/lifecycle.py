"""Lifecycles as declared state graphs, checked when defined; one function refuses illegal moves."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flask_babel import gettext as _

from .errors import IllegalTransitionError
from .labels import N_, label

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
class Lifecycle:
    """A named state graph: state -> the states it may move to."""

    name: str
    transitions: Mapping[str, frozenset[str]]
    initial: str

    def __post_init__(self) -> None:
        states = set(self.transitions)
        if self.initial not in states:
            raise ValueError(f"{self.name}: initial state {self.initial!r} not declared")
        for state, targets in self.transitions.items():
            missing = set(targets) - states
            if missing:
                raise ValueError(f"{self.name}: {state} -> {sorted(missing)} not declared")

    @property
    def final_states(self) -> frozenset[str]:
        return frozenset(s for s, t in self.transitions.items() if not t)

    def check(self, current: str, target: str) -> None:
        """Raise IllegalTransitionError unless current -> target is declared."""
        if target not in self.transitions.get(current, frozenset()):
            raise IllegalTransitionError(self.refusal(current))

    def refusal(self, current: str) -> str:
        """The refusal of a step from `current`, in the reader's language."""
        if self.name in REFUSALS:
            message, group = REFUSALS[self.name]
            return _(message, state=label(current, group))
        return _("That is not possible now (the state is “%(state)s”).", state=current.replace("_", " "))


def lifecycle(name: str, initial: str, **graph: str) -> Lifecycle:
    """Declare a lifecycle: lifecycle('x', 'a', a='b c', b='', c='')."""
    return Lifecycle(name, {s: frozenset(t.split()) for s, t in graph.items()}, initial)


MEMBER = lifecycle("member", "pending", pending="active refused", active="closed", refused="active", closed="")

# An advice session. "proposed" holds no money: a helper's offer on a request waits for the
# receiver's consent (a booking on an offer is the receiver's own act and is accepted at once).
# "split" is a coordinator's partial payment of a disputed session.
BOOKING = lifecycle(
    "booking",
    "proposed",
    proposed="booked cancelled",
    booked="confirmed claimed cancelled",
    claimed="confirmed disputed paid",
    disputed="paid refunded split",
    confirmed="",
    paid="",
    refunded="",
    cancelled="",
    split="",
)

LISTING = lifecycle("listing", "open", open="closed", closed="")

# A funding lead: its poster or a coordinator withdraws it (it then leaves peers and the directory too).
FUNDING_LEAD = lifecycle("funding_lead", "open", open="withdrawn", withdrawn="")
# A report of abusive messages, handled by a coordinator (node/services/messages.py).
REPORT = lifecycle("report", "open", open="handled", handled="")

PROPOSAL = lifecycle("proposal", "open", open="completed withdrawn closed", completed="", withdrawn="", closed="")

INVITATION = lifecycle(
    "invitation",
    "invited",
    invited="accepted declined expired cancelled",
    accepted="submitted timed_out cancelled",
    submitted="",
    declined="",
    expired="",
    timed_out="",
    cancelled="",
)
