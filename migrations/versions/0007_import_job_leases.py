"""Import jobs survive their worker: a lease, the position of the last committed batch, and `cancelled`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

STATUSES = "'queued', 'running', 'succeeded', 'failed'"


def upgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_holder', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('lease_expires_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('next_line', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('bytes_read', sa.BigInteger(), server_default=sa.text('0'), nullable=False))
        batch_op.drop_constraint(batch_op.f('ck_import_jobs_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_import_jobs_status'), f"status IN ({STATUSES}, 'cancelled')")
        batch_op.create_index(
            batch_op.f('ix_import_jobs_status_lease_expires_at'), ['status', 'lease_expires_at'], unique=False
        )


def downgrade():
    op.execute("UPDATE import_jobs SET status = 'failed' WHERE status = 'cancelled'")
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_jobs_status_lease_expires_at'))
        batch_op.drop_constraint(batch_op.f('ck_import_jobs_status'), type_='check')
        batch_op.create_check_constraint(batch_op.f('ck_import_jobs_status'), f"status IN ({STATUSES})")
        batch_op.drop_column('bytes_read')
        batch_op.drop_column('next_line')
        batch_op.drop_column('lease_expires_at')
        batch_op.drop_column('lease_holder')
