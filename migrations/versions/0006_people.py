"""People: every account belongs to one person; existing accounts become one person each.

Revision ID: 0006
Revises: 0007
Create Date: 2026-12-01
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('person',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
    sa.UniqueConstraint('email', name=op.f('uq_person_email'))
    )
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))

    # One person per existing account, named after it and reusing its id (ids of a fresh table
    # are free); then the sequence of a PostgreSQL table moves past them.
    op.execute("INSERT INTO person (id, display_name, email, active, created_at) "
               "SELECT id, username, NULL, active, created_at FROM user_account")
    op.execute("UPDATE user_account SET person_id = id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('person', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM person), 0) + 1, false)")

    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.alter_column('person_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f('ix_user_account_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_user_account_person_id_person'), 'person',
                                    ['person_id'], ['id'])


def downgrade():
    with op.batch_alter_table('user_account', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_user_account_person_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_user_account_person_id'))
        batch_op.drop_column('person_id')
    op.drop_table('person')
