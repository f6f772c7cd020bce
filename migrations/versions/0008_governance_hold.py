"""A reversal holds: the hold on signing a model off again after the board's reversal (or a lifted
suspension), with the board's release.

Revision ID: 0008
Revises: 0004
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('governance_hold',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('cause', sa.String(length=40), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_by', sa.String(length=200), nullable=False),
    sa.Column('last_review_id', sa.Integer(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=200), nullable=True),
    sa.Column('release_rationale', sa.Text(), nullable=True),
    sa.Column('ended_by_sign_off_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['ended_by_sign_off_id'], ['sign_off.id'], name=op.f('fk_governance_hold_ended_by_sign_off_id_sign_off')),
    sa.ForeignKeyConstraint(['model_id'], ['governed_model.id'], name=op.f('fk_governance_hold_model_id_governed_model')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_governance_hold'))
    )
    with op.batch_alter_table('governance_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_governance_hold_model_id'), ['model_id'], unique=False)


def downgrade():
    with op.batch_alter_table('governance_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_governance_hold_model_id'))

    op.drop_table('governance_hold')
