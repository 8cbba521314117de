"""The activity trail."""

from datetime import date as Date

from api.responses import json_response
from schemas.access import activity_representation
from services.activity import ActivityFilters
from services.activity import list_activity as activity_page
from services.errors import InvalidInput
from services.settings import current_settings


def list_activity(limit=None, cursor=None, date=None, actor=None, action=None):
    """Entries newest first, filtered by day, actor and action."""
    try:
        day = Date.fromisoformat(date) if date else None
    except ValueError:
        raise InvalidInput.single("date", "must be a date like 2026-11-22") from None
    filters = ActivityFilters(day=day, actor=actor, action=action)
    page = activity_page(filters, limit=limit or current_settings().page_size_default, cursor=cursor)
    return json_response({"items": [activity_representation(e) for e in page.items], "next_cursor": page.next_cursor})
