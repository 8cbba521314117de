"""Representation of a ledger entry (a change of a customer's points and cashback)."""

from models import LedgerEntry
from schemas.common import money, timestamp


def ledger_representation(entry: LedgerEntry, order_id: str | None) -> dict:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "points": entry.points,
        "amount": money(entry.amount),
        "points_balance": entry.points_balance,
        "cashback_balance": money(entry.cashback_balance),
        "order_id": order_id,
        "created_at": timestamp(entry.created_at),
    }
