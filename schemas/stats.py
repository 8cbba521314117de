"""How the overview's figures are written in answers: counts as integers, money as two-place strings."""

from decimal import Decimal

from services.stats import DayFigures


def overview_representation(per_tier: list[tuple], days: list[DayFigures]) -> dict:
    return {
        "tiers": [{"tier": tier, "name": name, "customers": count} for tier, name, count in per_tier],
        "customers": sum(count for _, _, count in per_tier),
        "days": [
            {"date": d.day.isoformat(), "orders": d.orders, "points": d.points, "cashback": f"{d.cashback:.2f}"}
            for d in days
        ],
        "totals": {
            "orders": sum(d.orders for d in days),
            "points": sum(d.points for d in days),
            "cashback": f"{sum((d.cashback for d in days), Decimal('0.00')):.2f}",
        },
    }
