"""Parsing of request values shared by several operations: times and money amounts."""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from services.errors import InvalidInput

ERP_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")
CENT = Decimal("0.01")
# One sale's amount: its points (1 a unit) fit the 32-bit counters, and many fit the balances.
MAX_AMOUNT = Decimal("99999999.99")


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or time (a time without offset is UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput.single(field, "must be a date or time like 2026-11-22 or 2026-11-22T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_erp_time(value: str, field: str) -> datetime:
    """The ERP's sale time: ISO 8601, or "YYYY-MM-DD HH:MM:SS" (UTC when no offset is given)."""
    for layout in ERP_TIME_FORMATS:
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    try:
        return parse_time(value, field)
    except InvalidInput:
        raise InvalidInput.single(field, "must be a date and time like 2026-11-22 10:30:00") from None


def parse_amount(value: str | int | float, field: str) -> Decimal:
    """A money amount of more than 0 and at most MAX_AMOUNT with two places at most, as a string or a JSON number."""
    try:
        # str() first: a JSON number arrives as a float, whose binary value is not the amount written.
        number = Decimal(str(value))
    except InvalidOperation:
        raise InvalidInput.single(field, "must be an amount like 12.50") from None
    if not number.is_finite() or number <= 0:
        raise InvalidInput.single(field, "must be more than 0")
    if number > MAX_AMOUNT:
        raise InvalidInput.single(field, f"must be at most {MAX_AMOUNT}")
    if number != number.quantize(CENT):
        raise InvalidInput.single(field, "must have at most two decimal places")
    return number
