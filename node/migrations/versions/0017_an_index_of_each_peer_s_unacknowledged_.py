"""an index of each peer's unacknowledged channel entries

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 23:15:01.020656
"""
from alembic import op


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Without it, finding a peer's unacknowledged entries walked every entry ever sent to the peer
    # (the unique index is in seq order; acked_at had to be read row by row): 1 ms per query at 5,000.
    with op.batch_alter_table('fed_channel_entries', schema=None) as batch_op:
        batch_op.create_index('ix_fed_channel_entries_unacked', ['peer_id', 'direction', 'acked_at', 'seq'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fed_channel_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_fed_channel_entries_unacked')
