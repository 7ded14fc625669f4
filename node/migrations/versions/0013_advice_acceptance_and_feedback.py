"""advice sessions: the adviser's acceptance, and feedback after a session

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 06:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('advice_bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('accepted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # Sessions booked before this revision were accepted when booked: the adviser had no choice then.
    op.execute("UPDATE advice_bookings SET accepted_at = created_at WHERE status <> 'proposed'")
    op.create_table(
        'advice_feedback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=False),
        sa.Column('about_id', sa.Integer(), nullable=False),
        sa.Column('about_role', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('rating', sa.Integer(), nullable=False),
        sa.Column('comment', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['about_id'], ['members.id']),
        sa.ForeignKeyConstraint(['author_id'], ['members.id']),
        sa.ForeignKeyConstraint(['booking_id'], ['advice_bookings.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('booking_id', 'author_id'),
    )
    with op.batch_alter_table('advice_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_advice_feedback_about_id'), ['about_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('advice_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_advice_feedback_about_id'))
    op.drop_table('advice_feedback')
    with op.batch_alter_table('advice_bookings', schema=None) as batch_op:
        batch_op.drop_column('accepted_at')
