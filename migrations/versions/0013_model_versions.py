"""Model versions: one governed_model row per (name, version), the newest answering for the name;
a version can be retired (closed to all, its records kept).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('governed_model', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('retired_by', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('retirement_reason', sa.Text(), nullable=True))
        batch_op.drop_constraint('uq_governed_model_name', type_='unique')
        # Its index, led by name, serves the lookups by name as well.
        batch_op.create_unique_constraint('uq_governed_model_name_version', ['name', 'version'])


def downgrade():
    # Only one version per name can stay: the older rows of a name must be removed first.
    with op.batch_alter_table('governed_model', schema=None) as batch_op:
        batch_op.drop_constraint('uq_governed_model_name_version', type_='unique')
        batch_op.create_unique_constraint('uq_governed_model_name', ['name'])
        batch_op.drop_column('retirement_reason')
        batch_op.drop_column('retired_by')
        batch_op.drop_column('retired_at')
