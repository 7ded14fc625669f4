"""one audit log for coordinator and system actions; mail preferences; statement and notification indexes

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 18:15:04.190309
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# member_audit's actions and their codes in audit_log (node/labels.py: LABELS["audit_action"]).
ACTIONS = {
    'approved': 'member_approved',
    'refused': 'member_refused',
    'closed': 'account_closed',
    'role:coordinator': 'role_coordinator',
    'role:member': 'role_member',
}


def _case(column: str, mapping: dict) -> str:
    whens = ' '.join(f"WHEN '{old}' THEN '{new}'" for old, new in mapping.items())
    return f'CASE {column} {whens} ELSE {column} END'


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('subject', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)

    # The approvals, refusals, role changes and closings member_audit kept move into the one audit log, in order.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    detail = (
        "CASE WHEN reason = '' THEN json_object() ELSE json_object('reason', reason) END"
        if sqlite
        else "CASE WHEN reason = '' THEN json_build_object() ELSE json_build_object('reason', reason) END"
    )
    op.execute(
        'INSERT INTO audit_log (at, actor_id, action, subject, detail) '
        f"SELECT at, actor_id, {_case('action', ACTIONS)}, 'member:' || member_id, {detail} "
        'FROM member_audit ORDER BY id'
    )
    with op.batch_alter_table('member_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_audit_member_id'))
    op.drop_table('member_audit')

    op.create_table('mail_preferences',
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('mail', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('member_id', 'kind')
    )
    # A statement's date filter looks up its first and last transaction by time; the menu counts unread notes.
    with op.batch_alter_table('ledger_txns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_txns_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.create_index('ix_notifications_member_read', ['member_id', 'read_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_member_read')
    with op.batch_alter_table('ledger_txns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_txns_created_at'))
    op.drop_table('mail_preferences')

    op.create_table('member_audit',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['members.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('member_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_audit_member_id'), ['member_id'], unique=False)
    # Only the members' actions fit member_audit; the rest of the log goes with its table.
    sqlite = op.get_bind().dialect.name == 'sqlite'
    reason = "coalesce(json_extract(detail, '$.reason'), '')" if sqlite else "coalesce(detail->>'reason', '')"
    member_id = 'CAST(substr(subject, 8) AS INTEGER)'
    back = {new: old for old, new in ACTIONS.items()}
    codes = ', '.join(f"'{code}'" for code in back)
    op.execute(
        'INSERT INTO member_audit (member_id, actor_id, action, reason, at) '
        f"SELECT {member_id}, actor_id, {_case('action', back)}, {reason}, at FROM audit_log "
        f"WHERE action IN ({codes}) AND subject LIKE 'member:%' ORDER BY id"
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
        batch_op.drop_index(batch_op.f('ix_audit_log_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))
    op.drop_table('audit_log')
