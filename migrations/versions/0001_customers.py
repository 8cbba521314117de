"""Customers: the member record with its uniqueness rules.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 01:30:10.781017
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('customers',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('first_name', sa.String(length=64), nullable=True),
    sa.Column('last_name', sa.String(length=64), nullable=True),
    sa.Column('phone_number', sa.String(length=16), nullable=True),
    sa.Column('client_member_id', sa.String(length=32), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('document', sa.String(length=11), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_customers')),
    sa.UniqueConstraint('account_id', 'client_member_id', name=op.f('uq_customers_account_id_client_member_id')),
    sa.UniqueConstraint('account_id', 'phone_number', name=op.f('uq_customers_account_id_phone_number')),
    sa.UniqueConstraint('document', name=op.f('uq_customers_document')),
    sa.UniqueConstraint('email', name=op.f('uq_customers_email')),
    sa.UniqueConstraint('id', name=op.f('uq_customers_id')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_created_at_pk'), ['created_at', 'pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_last_name_pk'), ['last_name', 'pk'], unique=False)



def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_last_name_pk'))
        batch_op.drop_index(batch_op.f('ix_customers_created_at_pk'))

    op.drop_table('customers')
