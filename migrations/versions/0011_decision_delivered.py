"""A decision records whether its answer was delivered: false when the request answered 503 after
its commit was already under way and the row landed anyway. Every row so far counts as delivered
(the log cannot tell otherwise for them).

A partial index holds only the rows marked not delivered, for the explorer's filter: ordinary
rows never enter it, so the writer's group commits do not pay for it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0011'
down_revision = "0010"
branch_labels = None
depends_on = None

UNDELIVERED = sa.column("delivered") == sa.false()


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('delivered', sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_index('ix_decision_undelivered', ['decision_id'], unique=False,
                              sqlite_where=UNDELIVERED, postgresql_where=UNDELIVERED)


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index('ix_decision_undelivered')
        batch_op.drop_column('delivered')
