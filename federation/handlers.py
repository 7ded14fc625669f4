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
    from federation.advice import adviser_side, booker_side, offers as advice_offers, sessions as advice_abroad
    from federation.initiatives import funding
    from federation.payments import transfers
    from federation.reviews import pools, proposer_side, reviewer_side
    from federation.settlement import participant as settlement
    from federation.transport import checkpoints, keys

    channel = fed.channel_handlers
    channel.add("key_rotation", keys.apply_key_rotation)
    channel.add("transfer", transfers.apply_transfer)
    channel.add("transfer_receipt", transfers.apply_receipt)
    channel.add("transfer_bounce", transfers.apply_bounce)
    channel.add("reviewer_pool_snapshot", pools.apply_snapshot)
    channel.add("reviewer_pool_delta", pools.apply_delta)
    channel.add("funding_lead_snapshot", funding.apply_snapshot)
    channel.add("funding_lead_delta", funding.apply_delta)
    channel.add("review_invite", reviewer_side.apply_invite)
    channel.add("review_cancel", reviewer_side.apply_cancel)
    channel.add("proposal_share", reviewer_side.apply_share)
    channel.add("review_rating", reviewer_side.apply_rating)
    channel.add("review_accept", proposer_side.apply_accept)
    channel.add("review_decline", proposer_side.apply_decline)
    channel.add("review_submit", proposer_side.apply_submit)
    channel.add("advice_offer_snapshot", advice_offers.apply_snapshot)
    channel.add("advice_offer_delta", advice_offers.apply_delta)
    channel.add("advice_book", adviser_side.apply_book)
    channel.add("advice_dispute", adviser_side.apply_dispute)
    channel.add("advice_settle", adviser_side.apply_settle)
    channel.add("advice_accept", booker_side.apply_accept)
    channel.add("advice_decline", booker_side.apply_decline)
    channel.add("advice_claim", booker_side.apply_claim)
    channel.add("advice_cancel", advice_abroad.apply_cancel)  # both ways: the row's side says who cancelled
    fed.direct_handlers.add("checkpoint", checkpoints.receive_checkpoint)
    fed.settlement_handlers.add("position_statement", settlement.on_statement)
    fed.settlement_handlers.add("settlement_proposal", settlement.on_proposal)
    fed.settlement_handlers.add("settlement_certificate", settlement.apply_certificate)
    fed.payee_resolvers.add("review_bounty", reviewer_side.review_payee)
    fed.payee_resolvers.add("advice_session", adviser_side.advice_payee)
