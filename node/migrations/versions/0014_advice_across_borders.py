"""advice across borders: network-wide offers, offers peers share, bookings across a border

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 06:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Listings from before this revision are posted here and not shared: consent is given per offer, later.
    with op.batch_alter_table('advice_listings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('network_wide', sa.Boolean(), nullable=False, server_default=sa.text('false')))
        batch_op.add_column(sa.Column('origin_node', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('origin_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(
            sa.Column('origin_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False, server_default='')
        )
        batch_op.add_column(
            sa.Column('origin_adviser', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default='')
        )
        batch_op.alter_column('member_id', existing_type=sa.INTEGER(), nullable=True)
        batch_op.create_unique_constraint('uq_advice_listings_origin', ['origin_node', 'origin_ref'])
    op.create_table(
        'fed_advice_offer_shares',
        sa.Column('peer_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('records', sa.JSON(), nullable=False),
        sa.Column('snapshot_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('peer_id'),
    )
    op.create_table(
        'fed_remote_bookings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('side', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('peer_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('booking_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('offer_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
        sa.Column('adviser', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('adviser_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('booker_name', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('hours', sa.Integer(), nullable=False),
        sa.Column('rate', sa.BigInteger(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('scheduled_for', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('accepted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('dispute_by', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('dispute_reason', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column('resolution', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column('settled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('provider_amount', sa.BigInteger(), nullable=True),
        sa.Column('transfer_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.ForeignKeyConstraint(['member_id'], ['members.id']),
        sa.ForeignKeyConstraint(['peer_id'], ['fed_peers.node_id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('peer_id', 'booking_ref'),
    )
    with op.batch_alter_table('fed_remote_bookings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fed_remote_bookings_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fed_remote_bookings_peer_id'), ['peer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fed_remote_bookings_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('fed_remote_bookings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fed_remote_bookings_status'))
        batch_op.drop_index(batch_op.f('ix_fed_remote_bookings_peer_id'))
        batch_op.drop_index(batch_op.f('ix_fed_remote_bookings_member_id'))
    op.drop_table('fed_remote_bookings')
    op.drop_table('fed_advice_offer_shares')
    op.execute("DELETE FROM listing_search_terms WHERE listing_id IN "
               "(SELECT id FROM advice_listings WHERE origin_node IS NOT NULL)")
    op.execute("DELETE FROM advice_listings WHERE origin_node IS NOT NULL")
    with op.batch_alter_table('advice_listings', schema=None) as batch_op:
        batch_op.drop_constraint('uq_advice_listings_origin', type_='unique')
        batch_op.alter_column('member_id', existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column('origin_adviser')
        batch_op.drop_column('origin_country')
        batch_op.drop_column('origin_ref')
        batch_op.drop_column('origin_node')
        batch_op.drop_column('network_wide')
