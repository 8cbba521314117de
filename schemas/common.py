"""Representation helpers shared by every resource."""

from datetime import UTC, datetime


def timestamp(value: datetime | None) -> str | None:
    """UTC ISO 8601 with a trailing Z (None stays None)."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
