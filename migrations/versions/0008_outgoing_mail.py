"""Outgoing mail recorded in the database until it is sent or given up; a queued import job lapses too.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:00:00.000000
"""
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'outgoing_mail',
        sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('recipient', sa.String(length=320), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('body', sa.Text(), nullable=True),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('request_id', sa.String(length=128), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('lease_expires_at', sa.DateTime(), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sent', 'failed')", name=op.f('ck_outgoing_mail_status')),
        sa.PrimaryKeyConstraint('pk', name=op.f('pk_outgoing_mail')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f('ix_outgoing_mail_status_next_attempt_at'), ['status', 'next_attempt_at'], unique=False
        )
    # A queued job is now resumed once lease_expires_at lapses (its task was lost): those queued before it lapse now.
    op.get_bind().execute(
        sa.text("UPDATE import_jobs SET lease_expires_at = :now WHERE status = 'queued' AND lease_expires_at IS NULL"),
        {"now": datetime.now(timezone.utc).replace(tzinfo=None)},
    )


def downgrade():
    with op.batch_alter_table('outgoing_mail', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outgoing_mail_status_next_attempt_at'))
    op.drop_table('outgoing_mail')
