"""Tiers, a customer's rewards, the ledger and its balances, redemptions, the mailed statement, the signup bonus."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Customer, LedgerEntry, db
from tests.conftest import order


def test_tiers_are_seeded_a_to_j(client):
    """Ten tiers at 100..1000 points named 5%..50% off."""
    items = client.get("/api/tiers").json()["items"]
    assert [t["tier"] for t in items] == list("ABCDEFGHIJ")
    assert items[0] == {"tier": "A", "points": 100, "name": "5% off purchase"}
    assert items[-1] == {"tier": "J", "points": 1000, "name": "50% off purchase"}


@pytest.mark.parametrize(
    ("points", "tier", "next_tier", "progress"),
    [
        (0, None, "A", 0.0),
        (99, None, "A", 0.99),
        (100, "A", "B", 0.0),
        (150, "A", "B", 0.5),
        (999, "I", "J", 0.99),
        (1000, "J", None, None),
        (5000, "J", None, None),
    ],
)
def test_rewards_summary_bands(client, ana_customer, points, tier, next_tier, progress):
    """Tier and progress inside the current band, from the points earned."""
    if points:
        assert order(client, total=f"{points}.40").status_code == 201
    rewards = client.get("/api/customers/ana/rewards").json()
    assert rewards["points"] == points
    assert rewards["tier"] == tier
    assert rewards["next_tier"] == next_tier
    assert rewards["next_tier_progress"] == progress
    assert (rewards["next_tier_name"] is None) == (next_tier is None)


def test_redemption_spends_cashback_and_refuses_what_it_cannot_cover(client, ana_customer):
    """A redemption lowers the balance; one above it is 422 and changes nothing."""
    order(client, total="100.00", items=[{"type": "D", "value": "100.00", "qty": 1}])
    spent = client.post("/api/customers/ana/redemptions", json={"amount": "4.50"})
    assert spent.status_code == 201
    assert spent.json()["rewards"]["cashback_balance"] == "5.50"
    assert spent.json()["entry"]["amount"] == "-4.50"
    refused = client.post("/api/customers/ana/redemptions", json={"amount": "5.51"})
    assert refused.status_code == 422
    assert refused.json()["detail"] == "insufficient balance"
    assert client.get("/api/customers/ana/rewards").json()["cashback_balance"] == "5.50"
    assert client.post("/api/customers/ana/redemptions", json={"amount": "0"}).status_code == 400


def test_ledger_is_paged_and_filtered(client, ana_customer):
    """The ledger pages with cursors and filters by kind."""
    for _ in range(3):
        order(client, total="10.00", items=[{"type": "D", "value": "10.00", "qty": 1}])
    client.post("/api/customers/ana/redemptions", json={"amount": "1.00"})
    first = client.get("/api/customers/ana/ledger", params={"limit": 2}).json()
    second = client.get("/api/customers/ana/ledger", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    entries = first["items"] + second["items"]
    assert [e["kind"] for e in entries] == ["redemption", "order", "order", "order"]
    assert entries[0]["cashback_balance"] == "2.00"
    assert entries[0]["points_balance"] == 30
    assert [
        e["kind"] for e in client.get("/api/customers/ana/ledger", params={"kind": "redemption"}).json()["items"]
    ] == ["redemption"]


def test_every_balance_equals_the_sum_of_its_ledger(app, client):
    """Recompute each customer's points and cashback from the ledger: they match the stored balances."""
    for name in ("a", "b", "c"):
        created = client.post("/api/customers", json={"id": name, "email": f"{name}@example.com"})
        assert created.status_code == 201, created.text
        for total in ("15.00", "30.50"):
            placed = order(client, name, total=total, items=[{"type": "C", "value": total, "qty": 1}])
            assert placed.status_code == 201, placed.text
    made = client.get("/api/customers/a/orders").json()["items"][0]
    reversed_ = client.post(f"/api/orders/{made['id']}/reverse")
    assert reversed_.status_code == 200, reversed_.text
    redeemed = client.post("/api/customers/b/redemptions", json={"amount": "1.00"})
    assert redeemed.status_code == 201, redeemed.text
    with app.app.app_context():
        sums = dict(
            (pk, (points, amount))
            for pk, points, amount in db.session.execute(
                select(LedgerEntry.customer_pk, func.sum(LedgerEntry.points), func.sum(LedgerEntry.amount)).group_by(
                    LedgerEntry.customer_pk
                )
            )
        )
        for customer in db.session.scalars(select(Customer)):
            points, amount = sums.get(customer.pk, (0, Decimal(0)))
            assert customer.points == points
            assert customer.cashback_balance == Decimal(amount)


def test_customers_sorted_by_points(client):
    """sort=-points lists the best customers first, paged."""
    for name, total in (("low", "5.00"), ("high", "500.00"), ("mid", "50.00")):
        client.post("/api/customers", json={"id": name, "email": f"{name}@example.com"})
        order(client, name, total=total)
    first = client.get("/api/customers", params={"sort": "-points", "limit": 2}).json()
    rest = client.get("/api/customers", params={"sort": "-points", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [c["id"] for c in first["items"] + rest["items"]] == ["high", "mid", "low"]


def test_statement_is_mailed(client, ana_customer, mailbox):
    """The statement mail gives points, tier and balance; a customer without email is 422."""
    order(client, total="150.00", items=[{"type": "A", "value": "150.00", "qty": 1}])
    assert client.post("/api/customers/ana/statement").status_code == 202
    text = mailbox.wait_for("ana@example.com", "statement").get_content()
    assert "150 points" in text and "tier A" in text and "7.50" in text
    client.post("/api/customers", json={"id": "nomail", "phone_number": "+13235550000"})
    assert client.post("/api/customers/nomail/statement").status_code == 422


def test_signup_bonus_opens_the_wallet(use_settings, client):
    """SIGNUP_BONUS_CASHBACK credits each new customer, through the ledger."""
    use_settings(signup_bonus_cashback=Decimal("5.00"))
    client.post("/api/customers", json={"id": "bonus", "email": "bonus@example.com"})
    assert client.get("/api/customers/bonus/rewards").json()["cashback_balance"] == "5.00"
    assert client.get("/api/customers/bonus/ledger").json()["items"][0]["kind"] == "signup_bonus"


@pytest.mark.parametrize(("column", "value"), [("points", 2**31 - 100), ("cashback_balance", "9999999999.00")])
def test_a_balance_that_would_overflow_is_422_and_changes_nothing(client, app, ana_customer, column, value):
    """Near the largest balance kept, an order that would pass it is refused; points and ledger stay."""
    from sqlalchemy import update

    from models import Customer, db

    with app.app.app_context():
        db.session.execute(update(Customer).where(Customer.id == "ana").values({column: value}))
        db.session.commit()
    before = client.get("/api/customers/ana/rewards").json()
    response = order(client, total="99999999.99", items=[{"type": "D", "value": "99999999.99", "qty": 1}])
    assert response.status_code == 422, response.text
    assert "exceed" in response.json()["detail"]
    assert client.get("/api/customers/ana/rewards").json() == before
    assert client.get("/api/customers/ana/ledger").json()["items"] == []
