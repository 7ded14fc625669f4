"""member language and time zone; notification params

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:34:17.148224
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing members have chosen nothing yet: "" (the node's language and time zone).
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False,
                                      server_default=''))

    # Existing notifications keep their English subject and body and get no params (shown as stored).
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_column('params')

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('time_zone')
        batch_op.drop_column('language')
