"""Balances under concurrent writers: 200 orders and redemptions on one customer leave exact totals."""

import multiprocessing
import os
import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app import create_app
from models import Customer, LedgerEntry, db
from services import orders, rewards
from services.errors import BusinessRuleViolation
from tests.conftest import store_customer

ORDERS, REDEMPTIONS = 100, 100
ORDER_TOTAL, REDEEM = Decimal("10.00"), Decimal("1.50")  # each order earns 1.00 (type D, 10%)


def place(app, customer_pk: int, outcomes: list, barrier) -> None:
    with app.app.app_context():
        barrier.wait(timeout=30)
        customer = db.session.get(Customer, customer_pk)
        item = orders.Item("D", ORDER_TOTAL, 1)
        orders.place_order(customer, total=ORDER_TOTAL, items=[item], sold_at=None, external_id=None)
        outcomes.append("order")
        db.session.remove()


def spend(app, customer_pk: int, outcomes: list, barrier) -> None:
    with app.app.app_context():
        barrier.wait(timeout=30)
        try:
            rewards.redeem(db.session.get(Customer, customer_pk), REDEEM)
            outcomes.append("redeemed")
        except BusinessRuleViolation:
            outcomes.append("refused")
        db.session.remove()


def check_totals(app, customer_pk: int, redeemed: int) -> None:
    with app.app.app_context():
        customer = db.session.get(Customer, customer_pk)
        assert customer.points == ORDERS * 10
        assert customer.cashback_balance == ORDERS * Decimal("1.00") - redeemed * REDEEM
        assert customer.cashback_balance >= 0
        points, amount, lowest = db.session.execute(
            select(
                func.sum(LedgerEntry.points), func.sum(LedgerEntry.amount), func.min(LedgerEntry.cashback_balance)
            ).where(LedgerEntry.customer_pk == customer_pk)
        ).one()
        assert (points, Decimal(amount)) == (customer.points, customer.cashback_balance)
        assert lowest >= 0


def test_two_hundred_concurrent_writers_from_threads(app):
    """100 orders and 100 redemptions at once from 16 threads: exact totals, never a negative balance."""
    customer_pk = store_customer(app, id="busy", email="busy@example.com")
    outcomes: list[str] = []
    jobs = [place, spend] * ORDERS  # interleaved, so redemptions race the orders that fund them
    for start in range(0, len(jobs), 16):
        chunk = jobs[start : start + 16]
        barrier = threading.Barrier(len(chunk))
        batch = [threading.Thread(target=job, args=(app, customer_pk, outcomes, barrier)) for job in chunk]
        for thread in batch:
            thread.start()
        for thread in batch:
            thread.join(timeout=60)
    assert outcomes.count("order") == ORDERS
    assert outcomes.count("redeemed") + outcomes.count("refused") == REDEMPTIONS
    check_totals(app, customer_pk, outcomes.count("redeemed"))


def _worker(settings: dict, customer_pk: int, kind: str, count: int, results) -> None:
    worker_app = create_app({**settings, "AUTO_MIGRATE": False})
    outcomes: list[str] = []
    barrier = threading.Barrier(1)
    for _ in range(count):
        (place if kind == "order" else spend)(worker_app, customer_pk, outcomes, barrier)
    results.put(outcomes)


@pytest.mark.subprocess
@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"), reason="several processes need a server database")
def test_two_hundred_concurrent_writers_from_processes(app, settings):
    """On PostgreSQL, four processes share the work: totals stay exact."""
    customer_pk = store_customer(app, id="busy", email="busy@example.com")
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=_worker, args=(settings, customer_pk, kind, 50, results))
        for kind in ("order", "redeem", "order", "redeem")
    ]
    for worker in workers:
        worker.start()
    outcomes = [item for _ in workers for item in results.get(timeout=120)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert outcomes.count("order") == ORDERS
    check_totals(app, customer_pk, outcomes.count("redeemed"))
