"""Launch checklist items per model version (owner, evidence, state), and scheduled re-reviews of
deployed models.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'checklist_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.String(length=100), nullable=False),
        sa.Column('owner', sa.String(length=200), nullable=True),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('evidence', sa.Text(), nullable=False),
        sa.Column('updated_by', sa.String(length=200), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['governed_model.id'],
                                name=op.f('fk_checklist_item_model_id_governed_model')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_checklist_item')),
        # Its index, led by model_id, serves the lookups of a model's items as well.
        sa.UniqueConstraint('model_id', 'item_id', name='uq_checklist_item_model_id'),
    )
    op.create_table(
        're_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('sign_off_id', sa.Integer(), nullable=False),
        sa.Column('reviewer', sa.String(length=200), nullable=False),
        sa.Column('recommendation', sa.String(length=20), nullable=False),
        sa.Column('rationale', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['governed_model.id'],
                                name=op.f('fk_re_review_model_id_governed_model')),
        sa.ForeignKeyConstraint(['sign_off_id'], ['sign_off.id'],
                                name=op.f('fk_re_review_sign_off_id_sign_off')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_re_review')),
    )
    op.create_index('ix_re_review_model_id', 're_review', ['model_id'], unique=False)


def downgrade():
    op.drop_index('ix_re_review_model_id', table_name='re_review')
    op.drop_table('re_review')
    op.drop_table('checklist_item')
