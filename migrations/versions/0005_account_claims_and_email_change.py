"""Mailed tokens that claim a customer record or change an email address.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 15:45:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('one_time_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        batch_op.drop_constraint(batch_op.f('ck_one_time_tokens_purpose'), type_='check')
        batch_op.create_check_constraint(
            batch_op.f('ck_one_time_tokens_purpose'), "purpose IN ('reset', 'verify', 'claim', 'email')"
        )


def downgrade():
    op.execute("DELETE FROM one_time_tokens WHERE purpose IN ('claim', 'email')")
    with op.batch_alter_table('one_time_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_one_time_tokens_purpose'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_one_time_tokens_purpose'), "purpose IN ('reset', 'verify')")
        batch_op.drop_column('email')
