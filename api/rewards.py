"""Tiers, a customer's rewards and ledger, redemptions and the mailed statement."""

from datetime import UTC, datetime
from decimal import Decimal

from flask import current_app

from api.idempotency import idempotent
from api.responses import json_response
from api.security import caller
from schemas.rewards import ledger_representation, rewards_representation, tier_representation
from services import rewards
from services.customers import customer_from_ref
from services.errors import InvalidInput
from services.orders import order_ids


def parse_time(value: str | None, field: str) -> datetime | None:
    """An ISO 8601 date or time from a query parameter (a time without offset is UTC)."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput.single(field, "must be a date or time like 2026-11-22 or 2026-11-22T10:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def list_tiers():
    """The reward tiers."""
    return json_response({"items": [tier_representation(t) for t in rewards.tiers()]})


def get_rewards(customer):
    """A customer's points, tier, progress and cashback balance."""
    record = customer_from_ref(customer, caller())
    return json_response(rewards_representation(rewards.rewards_summary(record.points, record.cashback_balance)))


def list_ledger(customer, kind=None, from_=None, to=None, limit=None, cursor=None):
    """A customer's ledger, newest first."""
    record = customer_from_ref(customer, caller())
    filters = rewards.LedgerFilters(kind=kind, start=parse_time(from_, "from"), end=parse_time(to, "to"))
    entries, next_cursor = rewards.ledger_page(
        record.pk, filters, limit=limit or current_app.config["PAGE_SIZE_DEFAULT"], cursor=cursor
    )
    ids = order_ids({e.order_pk for e in entries})
    items = [ledger_representation(e, ids.get(e.order_pk)) for e in entries]
    return json_response({"items": items, "next_cursor": next_cursor})


@idempotent
def create_redemption(customer, body):
    """Spend cashback from the customer's wallet."""
    record = customer_from_ref(customer, caller())
    entry, summary = rewards.redeem(record, Decimal(body["amount"]))
    return json_response({"entry": ledger_representation(entry, None), "rewards": rewards_representation(summary)}, 201)


def send_statement(customer):
    """Mail the customer their points, tier and cashback balance."""
    rewards.send_statement(customer_from_ref(customer, caller()))
    return json_response({"detail": "The statement is on its way."}, 202)
