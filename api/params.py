"""Parsing of request values shared by several operations: times in query parameters and bodies, and the time
window of the `from` and `to` query parameters.

Money amounts and the ERP's sale times are domain rules: services.orders.parse_amount, services.cashback.erp_time.
"""

from datetime import UTC, datetime

from services.database import TimeWindow
from services.errors import InvalidInput


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or time (a time without offset is UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput.single(field, "must be a date or time like 2026-11-22 or 2026-11-22T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def time_window(from_: str | None, to: str | None) -> TimeWindow:
    """The window of the `from` and `to` query parameters."""
    return TimeWindow(parse_time(from_, "from"), parse_time(to, "to"))
