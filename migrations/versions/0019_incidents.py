"""Incidents (with the actions taken for them and their post-incident reviews) and feedback reports.

Revision ID: 0019
Revises: 0016
Create Date: 2026-12-03
"""
from alembic import op
import sqlalchemy as sa

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'incident',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('affected_models', sa.JSON(), nullable=False),
        sa.Column('affected_orgs', sa.JSON(), nullable=False),
        sa.Column('affected_keys', sa.JSON(), nullable=False),
        sa.Column('opened_by', sa.String(length=200), nullable=False),
        sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('review_quorum', sa.Integer(), nullable=False),
        sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident')),
    )
    op.create_index(op.f('ix_incident_state'), 'incident', ['state'], unique=False)
    op.create_table(
        'incident_action',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('target', sa.String(length=300), nullable=False),
        sa.Column('audit_event_id', sa.Integer(), nullable=True),
        sa.Column('holds', sa.Boolean(), nullable=False),
        sa.Column('linked_by', sa.String(length=200), nullable=False),
        sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'],
                                name=op.f('fk_incident_action_incident_id_incident')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_action')),
    )
    op.create_index(op.f('ix_incident_action_incident_id'), 'incident_action', ['incident_id'], unique=False)
    op.create_index('ix_incident_action_target_holds', 'incident_action', ['target', 'holds'], unique=False)
    op.create_table(
        'incident_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=False),
        sa.Column('reviewer', sa.String(length=200), nullable=False),
        sa.Column('findings', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'],
                                name=op.f('fk_incident_review_incident_id_incident')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_review')),
    )
    op.create_index(op.f('ix_incident_review_incident_id'), 'incident_review', ['incident_id'], unique=False)
    op.create_table(
        'feedback_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('decision_id', sa.String(length=26), nullable=False),
        sa.Column('request_id', sa.String(length=200), nullable=True),
        sa.Column('model', sa.String(length=200), nullable=True),
        sa.Column('org_id', sa.Integer(), nullable=True),
        sa.Column('key_prefix', sa.String(length=40), nullable=True),
        sa.Column('subject', sa.String(length=20), nullable=False),
        sa.Column('category', sa.String(length=40), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('reported_by', sa.String(length=40), nullable=False),
        sa.Column('reporter_kind', sa.String(length=20), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('incident_id', sa.Integer(), nullable=True),
        sa.Column('triaged_by', sa.String(length=200), nullable=True),
        sa.Column('triaged_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('triage_note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['incident_id'], ['incident.id'],
                                name=op.f('fk_feedback_report_incident_id_incident')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_report')),
    )
    op.create_index(op.f('ix_feedback_report_incident_id'), 'feedback_report', ['incident_id'], unique=False)
    op.create_index('ix_feedback_report_reported_by_received_at', 'feedback_report',
                    ['reported_by', 'received_at'], unique=False)
    op.create_index('ix_feedback_report_state_id', 'feedback_report', ['state', 'id'], unique=False)
    op.create_index('ix_feedback_report_model_received_at', 'feedback_report', ['model', 'received_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_feedback_report_model_received_at', table_name='feedback_report')
    op.drop_index('ix_feedback_report_state_id', table_name='feedback_report')
    op.drop_index('ix_feedback_report_reported_by_received_at', table_name='feedback_report')
    op.drop_index(op.f('ix_feedback_report_incident_id'), table_name='feedback_report')
    op.drop_table('feedback_report')
    op.drop_index(op.f('ix_incident_review_incident_id'), table_name='incident_review')
    op.drop_table('incident_review')
    op.drop_index('ix_incident_action_target_holds', table_name='incident_action')
    op.drop_index(op.f('ix_incident_action_incident_id'), table_name='incident_action')
    op.drop_table('incident_action')
    op.drop_index(op.f('ix_incident_state'), table_name='incident')
    op.drop_table('incident')
