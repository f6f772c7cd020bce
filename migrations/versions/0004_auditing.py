"""Decision-log explorer indexes: one (column, decision_id) index per filter the explorer offers.

Each lets "column = ? AND decision_id in a time window, newest first, LIMIT n" be answered by
walking one index in order, so a page costs the same on ten rows or ten million. A result
(allow/deny) filter has only two values and rides the primary key instead.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-24
"""
from alembic import op

revision = '0004'
down_revision = "0002"
branch_labels = None
depends_on = None

INDEXES = {
    'ix_decision_org_id_id': ['org_id', 'decision_id'],
    'ix_decision_tier_id': ['tier', 'decision_id'],
    'ix_decision_capability_id': ['capability', 'decision_id'],
    'ix_decision_reason_id': ['reason', 'decision_id'],
}


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        for name, columns in INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        for name in INDEXES:
            batch_op.drop_index(name)
