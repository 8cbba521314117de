"""The Idempotency-Key header: a repeated POST that creates money or points gets the first answer back."""

from tests.conftest import ERP_SALE as SALE
from tests.conftest import order


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
