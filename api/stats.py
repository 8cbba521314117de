"""The console's overview figures."""

from api.responses import json_response
from schemas.stats import overview_representation
from services import stats


def overview(days=30):
    """Customers per tier and, per UTC day of the last `days`, orders, points earned and cashback credited."""
    return json_response(overview_representation(stats.customers_per_tier(), stats.daily_figures(days)))
