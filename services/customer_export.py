"""Export of customers as CSV, streamed in keyset batches so memory stays flat whatever the count."""

import csv
import io
from collections.abc import Iterator

from sqlalchemy import select

from models import Customer, db
from services.customers import CustomerFilters, filter_conditions
from services.imports import COLUMNS

BATCH = 1000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection: what a spreadsheet may evaluate


def spreadsheet_text(value: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading single quote."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def export_rows(filters: CustomerFilters, phone_region: str) -> Iterator[str]:
    """CSV text: the header, then every matching customer in creation order, a batch at a time."""
    table = Customer.__table__.c
    conditions = filter_conditions(filters, phone_region)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue()
    after = 0
    while True:
        rows = db.session.execute(
            select(table.pk, *(table[name] for name in COLUMNS))
            .where(*conditions, table.pk > after)
            .order_by(table.pk)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(["" if value is None else value for value in row[1:]] for row in rows)
        yield buffer.getvalue()
        after = rows[-1].pk
