"""The Idempotency-Key header: a repeated POST that creates money or points gets the first answer back."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Customer, Order, db
from services import idempotency, orders
from services.errors import Conflict
from tests.conftest import ERP_SALE as SALE
from tests.conftest import order, store_customer


def test_idempotency_key_replays_the_first_answer(client, ana_customer):
    """The same key and body gives the first answer back and creates nothing more; another body is 422."""
    headers = {"Idempotency-Key": "till-42-attempt"}
    first = client.post("/api/customers/ana/orders", json={"total": "10.00"}, headers=headers)
    again = client.post("/api/customers/ana/orders", json={"total": "10.00"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert client.get("/api/customers/ana/rewards").json()["points"] == 10
    other = client.post("/api/customers/ana/orders", json={"total": "11.00"}, headers=headers)
    assert other.status_code == 422
    refused = client.post("/api/customers/ana/redemptions", json={"amount": "99"}, headers={"Idempotency-Key": "r1"})
    assert refused.status_code == 422
    # A refused request does not use up its key.
    order(client, total="100.00", items=[{"type": "D", "value": "100.00", "qty": 1}])
    retried = client.post("/api/customers/ana/redemptions", json={"amount": "99"}, headers={"Idempotency-Key": "r1"})
    assert retried.status_code == 422


def test_a_replayed_sale_is_not_credited_twice(erp, client, bruna):
    """The ERP's retry with the same Idempotency-Key gets the first answer back."""
    headers = {"Idempotency-Key": "erp-sale-777"}
    first = erp.post("/api/cashback", json=SALE, headers=headers)
    second = erp.post("/api/cashback", json=SALE, headers=headers)
    assert first.json() == second.json()
    assert client.get("/api/customers/bruna/rewards").json()["points"] == 100


LEASE = timedelta(seconds=30)


def _place_order(customer_pk: int) -> None:
    customer = db.session.get(Customer, customer_pk)
    orders.place_order(customer, total=Decimal("10.00"), items=[], sold_at=None, external_id=None)


def _order_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Order))


def test_work_committed_but_answer_lost_is_never_done_again(app, app_context):
    """The request died between committing its order and keeping its answer: the retry is a 409, no second order."""
    customer_pk = store_customer(app, id="ana", email="ana@example.com")
    claim = idempotency.claim("user:u1", "k1", "same request", LEASE)
    with idempotency.held(claim, LEASE):
        _place_order(customer_pk)
    # ... and the process dies here, before idempotency.remember.
    with pytest.raises(Conflict) as refused:
        idempotency.claim("user:u1", "k1", "same request", LEASE)
    assert refused.value.detail == idempotency.CARRIED_OUT_DETAIL
    assert _order_count() == 1


def test_a_retry_takes_over_a_lapsed_claim_and_the_first_cannot_commit_after(app, app_context):
    """A claim not renewed past its lease is taken over; the first request, still running, is refused at its commit."""
    customer_pk = store_customer(app, id="ana", email="ana@example.com")
    first = idempotency.claim("user:u1", "k1", "same request", timedelta(milliseconds=1))
    time.sleep(0.01)
    second = idempotency.claim("user:u1", "k1", "same request", LEASE)
    assert second.kept is None
    with pytest.raises(Conflict), idempotency.held(first, LEASE):
        _place_order(customer_pk)
    idempotency.release(first)
    with idempotency.held(second, LEASE):
        _place_order(customer_pk)
    idempotency.remember(second, 201, {"order": "the one"}, {})
    assert idempotency.claim("user:u1", "k1", "same request", LEASE).kept == (201, {"order": "the one"}, {})
    assert _order_count() == 1


def test_a_running_request_keeps_its_claim_past_the_lease(app, app_context):
    """The heartbeat renews the lease while the handler runs: a retry meanwhile is told it is still being handled."""
    lease = timedelta(seconds=1)
    claim = idempotency.claim("user:u1", "k1", "same request", lease)
    with idempotency.held(claim, lease):
        time.sleep(2.5)
        with app.app.app_context(), pytest.raises(Conflict) as refused:  # another request: a session of its own
            idempotency.claim("user:u1", "k1", "same request", lease)
    assert refused.value.detail == idempotency.STILL_RUNNING_DETAIL
