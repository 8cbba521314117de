"""Rewards: tiers and product types (seeded), orders, the ledger, ERP sales, idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 02:01:40.253453
"""
from datetime import datetime
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('idempotency_keys',
    sa.Column('owner', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('body', sa.JSON(), nullable=True),
    sa.Column('headers', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('owner', 'key', name=op.f('pk_idempotency_keys'))
    )
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_idempotency_keys_expires_at'), ['expires_at'], unique=False)

    op.create_table('product_types',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('cashback_percent', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('cashback_percent >= 0 AND cashback_percent <= 100', name=op.f('ck_product_types_percent')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_product_types'))
    )
    op.create_table('tiers',
    sa.Column('tier', sa.String(length=1), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('tier', name=op.f('pk_tiers')),
    sa.UniqueConstraint('points', name=op.f('uq_tiers_points'))
    )
    op.create_table('orders',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('customer_pk', sa.Integer(), nullable=True),
    sa.Column('total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('cashback', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sold_at', sa.DateTime(), nullable=False),
    sa.Column('external_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('reversed_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("status IN ('active', 'reversed')", name=op.f('ck_orders_status')),
    sa.CheckConstraint('total > 0', name=op.f('ck_orders_total_positive')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.pk'], name=op.f('fk_orders_customer_pk_customers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_orders')),
    sa.UniqueConstraint('external_id', name=op.f('uq_orders_external_id')),
    sa.UniqueConstraint('id', name=op.f('uq_orders_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_created_at_pk'), ['created_at', 'pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_customer_pk_pk'), ['customer_pk', 'pk'], unique=False)

    op.create_table('erp_sales',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('document', sa.String(length=11), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('sold_at', sa.DateTime(), nullable=False),
    sa.Column('total', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('cashback', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('products', sa.JSON(), nullable=False),
    sa.Column('customer_pk', sa.Integer(), nullable=True),
    sa.Column('order_pk', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('partner', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("status IN ('sent', 'failed', 'not_forwarded')", name=op.f('ck_erp_sales_status')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.pk'], name=op.f('fk_erp_sales_customer_pk_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_pk'], ['orders.pk'], name=op.f('fk_erp_sales_order_pk_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_erp_sales')),
    sa.UniqueConstraint('id', name=op.f('uq_erp_sales_id')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('erp_sales', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_erp_sales_document_customer_pk'), ['document', 'customer_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_erp_sales_status_pk'), ['status', 'pk'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('customer_pk', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('points_balance', sa.Integer(), nullable=False),
    sa.Column('cashback_balance', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("kind IN ('order', 'reversal', 'redemption', 'signup_bonus')", name=op.f('ck_ledger_entries_kind')),
    sa.ForeignKeyConstraint(['customer_pk'], ['customers.pk'], name=op.f('fk_ledger_entries_customer_pk_customers'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['order_pk'], ['orders.pk'], name=op.f('fk_ledger_entries_order_pk_orders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_customer_pk_pk'), ['customer_pk', 'pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_order_pk'), ['order_pk'], unique=False)

    op.create_table('order_items',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('order_pk', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('value', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.CheckConstraint('value > 0 AND qty > 0', name=op.f('ck_order_items_positive')),
    sa.ForeignKeyConstraint(['order_pk'], ['orders.pk'], name=op.f('fk_order_items_order_pk_orders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['type'], ['product_types.code'], name=op.f('fk_order_items_type_product_types'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_order_items'))
    )
    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_order_items_order_pk'), ['order_pk'], unique=False)
        batch_op.create_index(batch_op.f('ix_order_items_type'), ['type'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('points', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cashback_balance', sa.Numeric(precision=12, scale=2), server_default='0', nullable=False))
        batch_op.create_index(batch_op.f('ix_customers_points_pk'), ['points', 'pk'], unique=False)
        batch_op.create_check_constraint(batch_op.f('ck_customers_cashback_not_negative'), 'cashback_balance >= 0')

    tiers = sa.table('tiers', sa.column('tier', sa.String), sa.column('points', sa.Integer), sa.column('name', sa.String))
    op.bulk_insert(tiers, [
        {'tier': letter, 'points': 100 * n, 'name': f'{5 * n}% off purchase'}
        for n, letter in enumerate('ABCDEFGHIJ', start=1)
    ])
    product_types = sa.table(
        'product_types', sa.column('code', sa.String), sa.column('cashback_percent', sa.Numeric(5, 2)),
        sa.column('updated_at', sa.DateTime),
    )
    seeded_at = datetime(2026, 11, 22)
    op.bulk_insert(product_types, [
        {'code': code, 'cashback_percent': Decimal(percent), 'updated_at': seeded_at}
        for code, percent in (('A', '5'), ('B', '1'), ('C', '8'), ('D', '10'))
    ])



def downgrade():
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_customers_cashback_not_negative'), type_='check')
        batch_op.drop_index(batch_op.f('ix_customers_points_pk'))
        batch_op.drop_column('cashback_balance')
        batch_op.drop_column('points')

    with op.batch_alter_table('order_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_order_items_type'))
        batch_op.drop_index(batch_op.f('ix_order_items_order_pk'))

    op.drop_table('order_items')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_order_pk'))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_customer_pk_pk'))

    op.drop_table('ledger_entries')
    with op.batch_alter_table('erp_sales', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_erp_sales_status_pk'))
        batch_op.drop_index(batch_op.f('ix_erp_sales_document_customer_pk'))

    op.drop_table('erp_sales')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_customer_pk_pk'))
        batch_op.drop_index(batch_op.f('ix_orders_created_at_pk'))

    op.drop_table('orders')
    op.drop_table('tiers')
    op.drop_table('product_types')
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_idempotency_keys_expires_at'))

    op.drop_table('idempotency_keys')
