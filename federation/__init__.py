"""Federation: everything between national nodes (identity, peering, channels, delivery, payments)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask
from sqlalchemy.orm import Session

from node.context import node_ctx

if TYPE_CHECKING:
    from federation.state import Federation


def init_app(app: Flask, *, start_delivery: bool = True) -> None:
    """Wire federation into a node app: endpoints, coordinator pages, payment routing, sweeps."""
    from federation import labels
    from federation.api import register_api
    from federation.handlers import register_handlers
    from federation.settlement import web as settlement_web
    from federation.state import Federation
    from federation.transport.inbox import bp as inbox_bp
    from federation.web import bp as web_bp

    ctx = node_ctx(app)
    fed = Federation(ctx, start_kicker=start_delivery)
    register_handlers(fed)
    app.extensions["sifnet_federation"] = fed
    ctx.federation = fed
    with ctx.db.write() as session:
        fed.identity.register_current(session, ctx.now())
    app.register_blueprint(inbox_bp)
    from federation.payments.payee_check import bp as payees_bp

    app.register_blueprint(payees_bp)
    from federation.settlement.transport import bp as settlement_bp

    app.register_blueprint(settlement_bp)  # coordinators' clearing-round messages
    app.register_blueprint(web_bp)
    labels.init_app(app)  # the words for states and reasons on the federation pages
    register_api(app)
    settlement_web.register(app)
    from federation import summary  # the directory summary and the initiatives
    from federation.initiatives import web as initiatives_web

    app.register_blueprint(summary.bp)
    initiatives_web.register(app)
    ctx.remote_payments = _remote_payment(fed)
    from federation.reviews import web as reviews_web
    from federation.reviews.proposer_side import RemoteReviewHooks

    ctx.remote_reviews = RemoteReviewHooks(fed)  # node's proposals.RemoteReviews
    reviews_web.register(app)
    from federation.advice import web as advice_web
    from federation.advice.sessions import RemoteAdviceHooks

    ctx.remote_advice = RemoteAdviceHooks(fed)  # node's advice_listings.RemoteAdvice
    advice_web.register(app)
    from federation import test_hooks

    test_hooks.register(app)  # only with allow_clock_control (development and tests)
    from federation.jobs import register_sweeps
    from federation.payments.statement_lines import register_describers

    register_sweeps(ctx.sweeps)
    register_describers(ctx.statement_kinds)  # cross-border lines of a member's statement
    from federation.member_export import register_parts as register_export_parts

    register_export_parts(ctx.export_parts)  # a member's payments, bookings and invitations abroad in their export


class _RemotePayments:
    """The node's hook for addresses of other nodes: check the payee first, then pay in a transaction."""

    def __init__(self, fed: Federation) -> None:
        from federation.payments.payee_check import PayeeChecks

        self.fed, self.payees = fed, PayeeChecks(fed)

    def check(self, address: str) -> None:
        from flask_babel import gettext as _

        from federation.payments.transfers import parse_address
        from node.errors import ValidationError

        handle, node_id = parse_address(address)
        answer = self.payees.check(node_id, handle)
        if answer is not None and not answer.accepts:
            raise ValidationError(
                _("%(address)s is not a member who can be paid on %(node)s.", address=address, node=node_id),
                code="unknown_payee",
                field="to",
            )

    def known_payable(self, address: str) -> bool:
        """Whether the payee's node said lately that this address takes payments (no need to ask again)."""
        from federation.payments.transfers import parse_address

        handle, node_id = parse_address(address)
        answer = self.payees.cached(node_id, handle)
        return answer is not None and answer.accepts

    def __call__(self, session: Session, *, payer, to, amount, memo, now) -> dict:
        from federation.payments.transfers import send_transfer

        transfer_id = send_transfer(session, self.fed, payer=payer, to=to, amount=amount, memo=memo, now=now)
        return {"transfer_id": transfer_id, "status": "pending"}


def _remote_payment(fed: Federation) -> _RemotePayments:
    return _RemotePayments(fed)
