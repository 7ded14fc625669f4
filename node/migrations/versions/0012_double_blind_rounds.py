"""double-blind review rounds: reviewers and authors do not see each other's names

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 21:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.add_column(sa.Column('double_blind', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table('review_rounds', schema=None) as batch_op:
        batch_op.drop_column('double_blind')
