"""Identities: trusted issuers with claim-to-tier rules, single sign-on links, issuer and subject
in the decision log.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('identity_issuer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_issuer')),
    sa.UniqueConstraint('issuer', name=op.f('uq_identity_issuer_issuer')),
    sa.UniqueConstraint('name', name=op.f('uq_identity_issuer_name'))
    )
    op.create_table('user_identity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('issuer', sa.String(length=500), nullable=False),
    sa.Column('subject', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['user_account.id'], name=op.f('fk_user_identity_user_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user_identity')),
    sa.UniqueConstraint('issuer', 'subject', name='uq_user_identity_issuer_subject')
    )
    with op.batch_alter_table('user_identity', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_identity_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('subject', sa.String(length=255), nullable=True))
        batch_op.create_index('ix_decision_subject_id', ['issuer', 'subject', 'decision_id'], unique=False)

    counters = sa.table('change_counter', sa.column('name', sa.String), sa.column('value', sa.Integer))
    op.bulk_insert(counters, [{'name': 'issuers', 'value': 0}])


def downgrade():
    op.execute("DELETE FROM change_counter WHERE name = 'issuers'")
    with op.batch_alter_table('decision', schema=None) as batch_op:
        batch_op.drop_index('ix_decision_subject_id')
        batch_op.drop_column('subject')
        batch_op.drop_column('issuer')

    with op.batch_alter_table('user_identity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_identity_user_id'))

    op.drop_table('user_identity')
    op.drop_table('identity_issuer')
