"""Tiers, a customer's rewards and ledger, redemptions and the mailed statement."""

from api.idempotency import idempotent
from api.params import time_window
from api.responses import json_response
from api.security import caller
from schemas.ledger import ledger_representation
from schemas.rewards import rewards_representation, tier_representation
from services import rewards
from services.customers import customer_from_ref
from services.orders import order_ids, parse_amount
from services.settings import current_settings


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
    filters = rewards.LedgerFilters(kind, time_window(from_, to))
    limit = limit or current_settings().page_size_default
    page = rewards.ledger_page(record.pk, filters, limit=limit, cursor=cursor)
    ids = order_ids({e.order_pk for e in page.items})
    items = [ledger_representation(e, ids.get(e.order_pk)) for e in page.items]
    return json_response({"items": items, "next_cursor": page.next_cursor})


@idempotent
def create_redemption(customer, body):
    """Spend cashback from the customer's wallet."""
    record = customer_from_ref(customer, caller())
    entry, summary = rewards.redeem(record, parse_amount(body["amount"], "amount"))
    return json_response({"entry": ledger_representation(entry, None), "rewards": rewards_representation(summary)}, 201)


def send_statement(customer):
    """Mail the customer their points, tier and cashback balance."""
    rewards.send_statement(customer_from_ref(customer, caller()))
    return json_response({"detail": "The statement is on its way."}, 202)
