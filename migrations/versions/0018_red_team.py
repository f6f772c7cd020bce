"""Red-team exercises of a governed model, their participants and findings, and the ratings citing
an exercise as evidence.

Revision ID: 0018
Revises: 0016
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'red_team_exercise',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('scope', sa.Text(), nullable=False),
        sa.Column('started_on', sa.Date(), nullable=False),
        sa.Column('ended_on', sa.Date(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['model_id'], ['governed_model.id'],
                                name=op.f('fk_red_team_exercise_model_id_governed_model')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_red_team_exercise')),
    )
    op.create_index('ix_red_team_exercise_model_id', 'red_team_exercise', ['model_id'], unique=False)
    op.create_table(
        'red_team_participant',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.Column('user', sa.String(length=200), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('organisation', sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(['exercise_id'], ['red_team_exercise.id'],
                                name=op.f('fk_red_team_participant_exercise_id_red_team_exercise')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_red_team_participant')),
    )
    op.create_index('ix_red_team_participant_exercise_id', 'red_team_participant', ['exercise_id'],
                    unique=False)
    op.create_table(
        'red_team_finding',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.Column('model_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('category', sa.String(length=100), nullable=False),
        sa.Column('severity', sa.String(length=20), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('status', sa.String(length=20), nullable=False),
        sa.Column('reported_by', sa.String(length=200), nullable=False),
        sa.Column('resolution', sa.Text(), nullable=False),
        sa.Column('resolved_by', sa.String(length=200), nullable=True),
        sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['exercise_id'], ['red_team_exercise.id'],
                                name=op.f('fk_red_team_finding_exercise_id_red_team_exercise')),
        sa.ForeignKeyConstraint(['model_id'], ['governed_model.id'],
                                name=op.f('fk_red_team_finding_model_id_governed_model')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_red_team_finding')),
    )
    op.create_index('ix_red_team_finding_exercise_id', 'red_team_finding', ['exercise_id'], unique=False)
    op.create_index('ix_red_team_finding_model_id', 'red_team_finding', ['model_id'], unique=False)
    op.create_table(
        'rating_evidence',
        sa.Column('rating_id', sa.Integer(), nullable=False),
        sa.Column('exercise_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['exercise_id'], ['red_team_exercise.id'],
                                name=op.f('fk_rating_evidence_exercise_id_red_team_exercise')),
        sa.ForeignKeyConstraint(['rating_id'], ['risk_rating.id'],
                                name=op.f('fk_rating_evidence_rating_id_risk_rating')),
        sa.PrimaryKeyConstraint('rating_id', 'exercise_id', name=op.f('pk_rating_evidence')),
    )
    op.create_index('ix_rating_evidence_exercise_id', 'rating_evidence', ['exercise_id'], unique=False)


def downgrade():
    op.drop_index('ix_rating_evidence_exercise_id', table_name='rating_evidence')
    op.drop_table('rating_evidence')
    op.drop_index('ix_red_team_finding_model_id', table_name='red_team_finding')
    op.drop_index('ix_red_team_finding_exercise_id', table_name='red_team_finding')
    op.drop_table('red_team_finding')
    op.drop_index('ix_red_team_participant_exercise_id', table_name='red_team_participant')
    op.drop_table('red_team_participant')
    op.drop_index('ix_red_team_exercise_model_id', table_name='red_team_exercise')
    op.drop_table('red_team_exercise')
