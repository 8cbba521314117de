"""The overview's figures: customers per tier, and per UTC day what orders credited, checked against the ledger."""

from decimal import Decimal

import pytest

from tests.conftest import order

URL = "/api/stats/overview"


def ledger(client, customer: str) -> list[dict]:
    """Every ledger entry of a customer (fewer than 100 here)."""
    return client.get(f"/api/customers/{customer}/ledger", params={"limit": 100}).json()["items"]


def test_todays_figures_are_the_sums_of_the_ledger(client, make_customer, ana_customer):
    """Today's orders, points and cashback equal the ledger's order entries; redemptions and reversals add none."""
    make_customer(id="ben", email="ben@example.com")
    placed = [
        order(client, total="150.40", items=[{"type": "A", "value": "150.40", "qty": 1}]),
        order(client, total="99.99", items=[{"type": "C", "value": "33.33", "qty": 3}]),
        order(client, customer="ben", total="250.00", items=[{"type": "D", "value": "125.00", "qty": 2}]),
    ]
    assert [p.status_code for p in placed] == [201, 201, 201]
    assert client.post(f"/api/orders/{placed[1].json()['order']['id']}/reverse").status_code == 200
    assert client.post("/api/customers/ben/redemptions", json={"amount": "1.00"}).status_code == 201
    entries = [e for c in ("ana", "ben") for e in ledger(client, c) if e["kind"] == "order"]

    body = client.get(URL, params={"days": 30}).json()

    assert len(body["days"]) == 30
    today = body["days"][-1]
    assert today["date"] == entries[0]["created_at"][:10]
    assert today["orders"] == len(entries) == 3
    assert today["points"] == sum(e["points"] for e in entries) == 150 + 99 + 250
    assert Decimal(today["cashback"]) == sum(Decimal(e["amount"]) for e in entries)
    assert today["cashback"] == "40.52"  # 7.52 + 8.00 + 25.00 (half-up cents)
    assert all(d["orders"] == 0 and d["cashback"] == "0.00" for d in body["days"][:-1])
    assert body["totals"] == {"orders": 3, "points": 499, "cashback": "40.52"}
    # ana holds 150 points after the reversal (tier A), ben 250 (tier B).
    per_tier = {t["tier"]: t["customers"] for t in body["tiers"]}
    assert per_tier["A"] == 1 and per_tier["B"] == 1 and per_tier["C"] == 0
    assert body["customers"] == 2


def test_customers_below_every_tier_lead_the_list(client, make_customer):
    """Customers with fewer points than the lowest tier are counted under a null tier, first."""
    make_customer(id="new", email="new@example.com")
    body = client.get(URL).json()
    assert body["tiers"][0] == {"tier": None, "name": None, "customers": 1}
    assert [t["tier"] for t in body["tiers"][1:]] == list("ABCDEFGHIJ")
    assert len(body["days"]) == 30


def test_staff_may_read_it_customers_may_not(client_as):
    """The overview is for staff and admins."""
    assert client_as("staff").get(URL, params={"days": 1}).status_code == 200
    assert client_as("customer").get(URL).status_code == 403


@pytest.mark.parametrize("days", ["0", "367", "-1", "ten", "1.5"])
def test_days_out_of_range_is_400(client, days):
    """days runs from 1 to 366; anything else names the parameter."""
    response = client.get(URL, params={"days": days})
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
