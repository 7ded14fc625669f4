"""funding leads, topic follows, deadline reminders; funding leads shared with peers

New tables only: funding_leads (posted here, or shared by a peer: origin_node + ref is unique),
topic_follows (member, tag), funding_reminders (one row per member and lead: a reminder is sent
once), and fed_funding_shares (what each peer was last sent, so the next delta is the difference).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:15:07.826173
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('fed_funding_shares',
    sa.Column('peer_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('records', sa.JSON(), nullable=False),
    sa.Column('snapshot_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('peer_id')
    )
    op.create_table('funding_leads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('origin_node', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('origin_country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=False),
    sa.Column('poster_id', sa.Integer(), nullable=True),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=False),
    sa.Column('deadline', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('countries', sa.JSON(), nullable=False),
    sa.Column('topics', sa.JSON(), nullable=False),
    sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('network_wide', sa.Boolean(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('withdrawn_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['poster_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('origin_node', 'ref')
    )
    with op.batch_alter_table('funding_leads', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_leads_deadline'), ['deadline'], unique=False)
        batch_op.create_index(batch_op.f('ix_funding_leads_poster_id'), ['poster_id'], unique=False)

    op.create_table('funding_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('origin_node', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('lead_ref', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'origin_node', 'lead_ref')
    )
    with op.batch_alter_table('funding_reminders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_reminders_member_id'), ['member_id'], unique=False)

    op.create_table('topic_follows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('tag', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'tag')
    )
    with op.batch_alter_table('topic_follows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_topic_follows_member_id'), ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('topic_follows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_topic_follows_member_id'))

    op.drop_table('topic_follows')
    with op.batch_alter_table('funding_reminders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_reminders_member_id'))

    op.drop_table('funding_reminders')
    with op.batch_alter_table('funding_leads', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_leads_poster_id'))
        batch_op.drop_index(batch_op.f('ix_funding_leads_deadline'))

    op.drop_table('funding_leads')
    op.drop_table('fed_funding_shares')
