"""Notifications: webhook endpoints, notification events and their deliveries (webhook or e-mail)
with an attempt log, the outbox's cursor over the audit trail, emitted time-based events, and the
event types each person mutes.

The cursor starts at the trail's present head: what happened before notifications existed is not
sent.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""
from alembic import op
import sqlalchemy as sa

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'webhook_endpoint',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=2000), nullable=False),
        sa.Column('description', sa.String(length=200), nullable=False),
        sa.Column('event_types', sa.JSON(), nullable=False),
        sa.Column('secret_sealed', sa.Text(), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_endpoint')),
    )
    op.create_table(
        'notification_event',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('audit_event_id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=60), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['audit_event_id'], ['audit_event.id'],
                                name=op.f('fk_notification_event_audit_event_id_audit_event')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_event')),
        sa.UniqueConstraint('audit_event_id', 'type', name=op.f('uq_notification_event_audit_event_id')),
    )
    op.create_table(
        'notification_delivery',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.String(length=40), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('endpoint_id', sa.Integer(), nullable=True),
        sa.Column('recipient', sa.String(length=320), nullable=True),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('lease_token', sa.String(length=40), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['endpoint_id'], ['webhook_endpoint.id'],
                                name=op.f('fk_notification_delivery_endpoint_id_webhook_endpoint')),
        sa.ForeignKeyConstraint(['event_id'], ['notification_event.id'],
                                name=op.f('fk_notification_delivery_event_id_notification_event')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_delivery')),
    )
    with op.batch_alter_table('notification_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_notification_delivery_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_delivery_endpoint_id'), ['endpoint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notification_delivery_event_id'), ['event_id'], unique=False)
    op.create_table(
        'delivery_attempt',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('delivery_id', sa.Integer(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('duration_ms', sa.Float(), nullable=False),
        sa.Column('ok', sa.Boolean(), nullable=False),
        sa.Column('status_code', sa.Integer(), nullable=True),
        sa.Column('response', sa.String(length=500), nullable=False),
        sa.Column('error', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['notification_delivery.id'],
                                name=op.f('fk_delivery_attempt_delivery_id_notification_delivery')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_attempt')),
    )
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_attempt_delivery_id'), ['delivery_id'], unique=False)
    cursor = op.create_table(
        'notification_cursor',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_notification_cursor')),
    )
    head = op.get_bind().execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM audit_event")).scalar()
    op.bulk_insert(cursor, [{'name': 'audit_cursor', 'position': head}])
    op.create_table(
        'notification_mark',
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('key', name=op.f('pk_notification_mark')),
    )
    op.create_table(
        'notification_mute',
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('event_type', sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                                name=op.f('fk_notification_mute_person_id_person')),
        sa.PrimaryKeyConstraint('person_id', 'event_type', name=op.f('pk_notification_mute')),
    )


def downgrade():
    op.drop_table('notification_mute')
    op.drop_table('notification_mark')
    op.drop_table('notification_cursor')
    with op.batch_alter_table('delivery_attempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_attempt_delivery_id'))
    op.drop_table('delivery_attempt')
    with op.batch_alter_table('notification_delivery', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notification_delivery_event_id'))
        batch_op.drop_index(batch_op.f('ix_notification_delivery_endpoint_id'))
        batch_op.drop_index('ix_notification_delivery_due')
    op.drop_table('notification_delivery')
    op.drop_table('notification_event')
    op.drop_table('webhook_endpoint')
