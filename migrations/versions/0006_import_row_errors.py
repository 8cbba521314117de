"""Every row error of an import in a table of its own; reports keep the first ones and counts.

Jobs stored before this revision move their full lists to the new table and keep the first 1,000
(the default IMPORT_REPORT_MAX_ERRORS) in the report. Downgrading keeps the reports as they are then.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 10:20:00.000000
"""
from collections import Counter

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

REPORT_ERRORS = 1000
BATCH = 5000


def upgrade():
    op.create_table('import_row_errors',
    sa.Column('pk', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('import_pk', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('value', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['import_pk'], ['import_jobs.pk'], name=op.f('fk_import_row_errors_import_pk_import_jobs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_import_row_errors')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_row_errors_import_pk_line_pk'), ['import_pk', 'line', 'pk'], unique=False)

    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('error_counts', sa.JSON(), server_default=sa.text("'[]'"), nullable=False))

    _move_error_lists()


def downgrade():
    with op.batch_alter_table('import_jobs', schema=None) as batch_op:
        batch_op.drop_column('error_counts')

    with op.batch_alter_table('import_row_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_row_errors_import_pk_line_pk'))

    op.drop_table('import_row_errors')


def _move_error_lists():
    """Each stored job: its whole list into import_row_errors, counts and the first errors into the report."""
    jobs = sa.table('import_jobs', sa.column('pk', sa.Integer), sa.column('errors', sa.JSON),
                    sa.column('error_counts', sa.JSON))
    row_errors = sa.table('import_row_errors', sa.column('import_pk', sa.Integer), sa.column('line', sa.Integer),
                          sa.column('field', sa.String), sa.column('message', sa.Text), sa.column('value', sa.Text))
    bind = op.get_bind()
    for pk in bind.execute(sa.select(jobs.c.pk).order_by(jobs.c.pk)).scalars().all():
        errors = sorted(bind.execute(sa.select(jobs.c.errors).where(jobs.c.pk == pk)).scalar() or [],
                        key=lambda error: error['line'])
        if not errors:
            continue
        rows = [{'import_pk': pk, **{name: _text(error[name]) for name in ('line', 'field', 'message', 'value')}}
                for error in errors]
        for start in range(0, len(rows), BATCH):
            bind.execute(row_errors.insert(), rows[start:start + BATCH])
        counts = Counter((error['field'], error['message']) for error in errors)
        bind.execute(jobs.update().where(jobs.c.pk == pk).values(
            errors=errors[:REPORT_ERRORS],
            error_counts=[{'field': f, 'message': m, 'count': n}
                          for (f, m), n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))],
        ))


def _text(value):
    # PostgreSQL text cannot hold NUL, which the JSON list could.
    return value.replace('\x00', '\ufffd') if isinstance(value, str) else value
