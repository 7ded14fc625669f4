"""Every message this node acts on, and who handles it: the one list, filled when the app starts.

Channel entries are applied by `channels` (fn(session, fed, peer, envelope, now), inside the
entry's transaction); direct messages at /federation/v1/messages (fn(fed, peer, envelope) -> answer);
a round coordinator's settlement messages at /federation/v1/settlement (fn(fed, coordinator_id,
envelope) -> answer). Payee resolvers name the member a transfer pays when it is not the payee
handle itself (a review bounty pays the reviewer's pseudonym).
"""

from __future__ import annotations


def register_handlers(fed) -> None:
    """Fill the federation object's registries; a type registered twice is refused."""
    from . import (
        advice_abroad,
        advice_offers,
        checkpoints,
        funding,
        incoming_advice,
        incoming_reviews,
        keys,
        pools,
        remote_advice,
        remote_feedback,
        remote_reviews,
        settlement,
        transfers,
    )

    channel = fed.channel_handlers
    channel.add("key_rotation", keys.apply_key_rotation)
    channel.add("transfer", transfers.apply_transfer)
    channel.add("transfer_receipt", transfers.apply_receipt)
    channel.add("transfer_bounce", transfers.apply_bounce)
    channel.add("reviewer_pool_snapshot", pools.apply_snapshot)
    channel.add("reviewer_pool_delta", pools.apply_delta)
    channel.add("funding_lead_snapshot", funding.apply_snapshot)
    channel.add("funding_lead_delta", funding.apply_delta)
    channel.add("review_invite", incoming_reviews.apply_invite)
    channel.add("review_cancel", incoming_reviews.apply_cancel)
    channel.add("proposal_share", incoming_reviews.apply_share)
    channel.add("review_rating", incoming_reviews.apply_rating)
    channel.add("review_accept", remote_reviews.apply_accept)
    channel.add("review_decline", remote_reviews.apply_decline)
    channel.add("review_submit", remote_reviews.apply_submit)
    channel.add("advice_offer_snapshot", advice_offers.apply_snapshot)
    channel.add("advice_offer_delta", advice_offers.apply_delta)
    channel.add("advice_book", incoming_advice.apply_book)
    channel.add("advice_dispute", incoming_advice.apply_dispute)
    channel.add("advice_settle", incoming_advice.apply_settle)
    channel.add("advice_accept", remote_advice.apply_accept)
    channel.add("advice_decline", remote_advice.apply_decline)
    channel.add("advice_claim", remote_advice.apply_claim)
    channel.add("advice_feedback", remote_feedback.apply_feedback)  # both ways: about the other party
    channel.add("advice_cancel", advice_abroad.apply_cancel)  # both ways: the row's side says who cancelled
    fed.direct_handlers.add("checkpoint", checkpoints.receive_checkpoint)
    fed.settlement_handlers.add("position_statement", settlement.on_statement)
    fed.settlement_handlers.add("settlement_proposal", settlement.on_proposal)
    fed.settlement_handlers.add("settlement_certificate", settlement.apply_certificate)
    fed.payee_resolvers.add("review_bounty", incoming_reviews.review_payee)
    fed.payee_resolvers.add("advice_session", incoming_advice.advice_payee)
