"""Representation helpers shared by every resource."""

from datetime import UTC, datetime
from decimal import Decimal


def timestamp(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a trailing Z (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # the models always hand back UTC; convert anything else
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def money(value: Decimal | None) -> str | None:
    """Money as the API writes it: a decimal string with two places ("12.50"); None stays None."""
    return None if value is None else f"{value:.2f}"
