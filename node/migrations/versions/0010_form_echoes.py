"""form echoes: what a refused web form held, for the page it goes back to

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 21:00:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('form_echoes',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('typed', sa.JSON(), nullable=False),
    sa.Column('errors', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('form_echoes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_form_echoes_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('form_echoes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_form_echoes_created_at'))
    op.drop_table('form_echoes')
