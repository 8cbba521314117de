"""Export of customers as CSV, streamed in keyset batches so memory stays flat whatever the count."""

import csv
import io
import re
from collections.abc import Iterator

from sqlalchemy import select

from models import Customer, db
from services.customer_rules import PUBLIC_FIELDS as COLUMNS
from services.customers import CustomerFilters, filter_conditions
from services.imports import FORMULA_STARTS

BATCH = 1000
E164 = re.compile(r"\+\d{1,15}")


def spreadsheet_text(value: str) -> str:
    """A cell a spreadsheet shows as text: one that starts like a formula gets a leading single quote."""
    # Quotes already before a formula start ('=x) get one more, so the import's unquoted() gives back
    # exactly this value instead of taking its quote for ours.
    return "'" + value if value.lstrip("'").startswith(FORMULA_STARTS) else value


def export_cell(column: str, value: object) -> str:
    """The text of one exported cell: empty for null; text that could run as a formula quoted."""
    if value is None:
        return ""
    text = str(value)
    # A stored phone number is E.164, "+" then digits only: a spreadsheet reads it as a number, never as a
    # call, so it is safe as it is; quoted, it would stop being a phone number to other programs reading it.
    if column == "phone_number" and E164.fullmatch(text):
        return text
    return spreadsheet_text(text)


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
        writer.writerows(
            [export_cell(name, value) for name, value in zip(COLUMNS, row[1:], strict=True)] for row in rows
        )
        yield buffer.getvalue()
        after = rows[-1].pk
