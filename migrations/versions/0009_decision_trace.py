"""A decision records the governance state it was made under: the sign-off in force for its model
(None: none), and its organisation's name as it was then (organisations can be renamed or deleted).

No foreign key and no index: the decision log outlives what it names, and each index would cost
every group commit of the writer. Rows from before this revision get the organisation's name as it
is at the upgrade, and no sign-off (it was not recorded).

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa

revision = '0009'
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('org_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('sign_off_id', sa.Integer(), nullable=True))
    op.execute("UPDATE decision SET org_name = (SELECT organisation.name FROM organisation "
               "WHERE organisation.id = decision.org_id) WHERE org_id IS NOT NULL")


def downgrade():
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_column('sign_off_id')
        batch_op.drop_column('org_name')
