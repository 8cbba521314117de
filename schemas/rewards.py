"""Representations of the reward tiers and of a customer's rewards summary."""

from schemas.common import money
from services.rewards import TierInfo


def rewards_representation(summary: dict) -> dict:
    """A rewards summary with money as a string."""
    return {**summary, "cashback_balance": money(summary["cashback_balance"])}


def tier_representation(tier: TierInfo) -> dict:
    return {"tier": tier.tier, "points": tier.points, "name": tier.name}
