"""Tiers, orders earning points and cashback, reversals, product types, the ledger, redemptions, statements."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import Customer, LedgerEntry, db


@pytest.fixture
def ana(client):
    """A customer with an email."""
    response = client.post("/api/customers", json={"id": "ana", "email": "ana@example.com", "first_name": "Ana"})
    assert response.status_code == 201
    return response.json()


def order(client, customer="ana", **body):
    return client.post(f"/api/customers/{customer}/orders", json=body)


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
def test_rewards_summary_bands(client, ana, points, tier, next_tier, progress):
    """Tier and progress inside the current band, from the points earned."""
    if points:
        assert order(client, total=f"{points}.40").status_code == 201
    rewards = client.get("/api/customers/ana/rewards").json()
    assert rewards["points"] == points
    assert rewards["tier"] == tier
    assert rewards["next_tier"] == next_tier
    assert rewards["next_tier_progress"] == progress
    assert (rewards["next_tier_name"] is None) == (next_tier is None)


def test_order_earns_points_and_cashback_by_product_type(client, ana):
    """100.80 earns 100 points; cashback is sum(rate x value x qty) rounded half-up to cents."""
    response = order(
        client,
        total="100.80",
        external_id="till-1",
        items=[
            {"type": "A", "value": "50.10", "qty": 1},  # 5% -> 2.505
            {"type": "C", "value": "25.35", "qty": 2},  # 8% -> 4.056
        ],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/api/orders/{body['order']['id']}"
    assert body["order"]["points"] == 100
    assert body["order"]["cashback"] == "6.56"
    assert body["order"]["status"] == "active"
    assert body["order"]["customer_id"] == "ana"
    assert body["rewards"]["points"] == 100
    assert body["rewards"]["tier"] == "A"
    assert body["rewards"]["cashback_balance"] == "6.56"
    customer = client.get("/api/customers/ana").json()
    assert customer["rewards"] == body["rewards"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"total": "10.00", "items": [{"type": "A", "value": "5.00", "qty": 1}]}, "total"),
        ({"total": "10.00", "items": [{"type": "Z", "value": "10.00", "qty": 1}]}, "items.0.type"),
        ({"total": "0"}, "total"),
        ({"total": "-5.00"}, "total"),
        ({"total": "1.234"}, "total"),
        ({"total": "ten"}, "total"),
        ({"total": "10.00", "items": [{"type": "A", "value": "10.00", "qty": 0}]}, "items.0.qty"),
        ({"total": "10.00", "bonus": 1}, "bonus"),
    ],
)
def test_bad_orders_are_400_and_change_nothing(client, ana, body, field):
    """A bad order names the field and leaves points, balance and ledger as they were."""
    response = order(client, **body)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/api/customers/ana/rewards").json()["points"] == 0
    assert client.get("/api/customers/ana/ledger").json()["items"] == []


def test_duplicate_external_id_is_409(client, ana):
    """The till's id is unique."""
    assert order(client, total="10.00", external_id="till-9").status_code == 201
    again = order(client, total="10.00", external_id="till-9")
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "external_id"
    assert client.get("/api/customers/ana/rewards").json()["points"] == 10


def test_reversal_undoes_the_sale_and_the_tier_falls_back(client, ana):
    """Reversing writes compensating entries; a second reversal is 422."""
    order(client, total="90.00")
    big = order(client, total="60.00", items=[{"type": "D", "value": "60.00", "qty": 1}]).json()["order"]
    assert client.get("/api/customers/ana/rewards").json()["tier"] == "A"
    reversed_ = client.post(f"/api/orders/{big['id']}/reverse")
    assert reversed_.status_code == 200
    assert reversed_.json()["order"]["status"] == "reversed"
    assert reversed_.json()["rewards"] == client.get("/api/customers/ana/rewards").json()
    rewards = reversed_.json()["rewards"]
    assert rewards["points"] == 90
    assert rewards["tier"] is None
    assert rewards["cashback_balance"] == "0.00"
    again = client.post(f"/api/orders/{big['id']}/reverse")
    assert again.status_code == 422
    kinds = [e["kind"] for e in client.get("/api/customers/ana/ledger").json()["items"]]
    assert kinds == ["reversal", "order", "order"]


def test_orders_are_listed_and_filtered(client, ana):
    """Per customer and across customers, by status and sale time, newest first."""
    first = order(client, total="10.00", sold_at="2026-01-01T10:00:00Z").json()["order"]
    second = order(client, total="20.00", sold_at="2026-02-01T10:00:00Z").json()["order"]
    client.post(f"/api/orders/{first['id']}/reverse")
    mine = client.get("/api/customers/ana/orders").json()["items"]
    assert [o["id"] for o in mine] == [second["id"], first["id"]]
    assert [o["id"] for o in client.get("/api/orders", params={"status": "reversed"}).json()["items"]] == [first["id"]]
    february = client.get("/api/orders", params={"from": "2026-02-01", "to": "2026-03-01"}).json()["items"]
    assert [o["id"] for o in february] == [second["id"]]
    assert client.get("/api/orders", params={"customer": "ana@example.com"}).json()["items"][0]["customer_id"] == "ana"
    assert client.get(f"/api/orders/{second['id']}").json()["total"] == "20.00"
    assert client.get("/api/orders", params={"from": "yesterday"}).status_code == 400


def test_product_types_can_change_but_not_be_deleted_in_use(client, ana):
    """PUT changes a rate (new orders use it); DELETE is 409 while orders use the type."""
    assert client.put("/api/product-types/A", json={"cashback_percent": "20"}).json()["cashback_percent"] == "20.00"
    body = order(client, total="10.00", items=[{"type": "A", "value": "10.00", "qty": 1}]).json()
    assert body["order"]["cashback"] == "2.00"
    assert client.delete("/api/product-types/A").status_code == 409
    created = client.put("/api/product-types/E", json={"cashback_percent": "3.5"})
    assert created.status_code == 201
    assert client.delete("/api/product-types/E").status_code == 204
    assert client.get("/api/product-types/E").status_code == 404
    assert client.put("/api/product-types/A", json={"cashback_percent": "101"}).status_code == 400
    codes = [p["code"] for p in client.get("/api/product-types").json()["items"]]
    assert codes == ["A", "B", "C", "D"]


def test_redemption_spends_cashback_and_refuses_what_it_cannot_cover(client, ana):
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


def test_ledger_is_paged_and_filtered(client, ana):
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
        client.post("/api/customers", json={"id": name, "email": f"{name}@example.com"})
        for total in ("15.00", "30.50"):
            order(client, name, total=total, items=[{"type": "C", "value": total, "qty": 1}])
    made = client.get("/api/customers/a/orders").json()["items"][0]
    client.post(f"/api/orders/{made['id']}/reverse")
    client.post("/api/customers/b/redemptions", json={"amount": "1.00"})
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


def test_statement_is_mailed(client, ana, mailbox):
    """The statement mail gives points, tier and balance; a customer without email is 422."""
    order(client, total="150.00", items=[{"type": "A", "value": "150.00", "qty": 1}])
    assert client.post("/api/customers/ana/statement").status_code == 202
    text = mailbox.wait_for("ana@example.com", "statement").get_content()
    assert "150 points" in text and "tier A" in text and "7.50" in text
    client.post("/api/customers", json={"id": "nomail", "phone_number": "+13235550000"})
    assert client.post("/api/customers/nomail/statement").status_code == 422


def test_signup_bonus_opens_the_wallet(app, client):
    """SIGNUP_BONUS_CASHBACK credits each new customer, through the ledger."""
    app.app.config["SIGNUP_BONUS_CASHBACK"] = Decimal("5.00")
    try:
        client.post("/api/customers", json={"id": "bonus", "email": "bonus@example.com"})
    finally:
        app.app.config["SIGNUP_BONUS_CASHBACK"] = Decimal("0.00")
    assert client.get("/api/customers/bonus/rewards").json()["cashback_balance"] == "5.00"
    assert client.get("/api/customers/bonus/ledger").json()["items"][0]["kind"] == "signup_bonus"


def test_customers_see_only_their_own_orders(client, client_as, ana):
    """A customer reads their own rewards and orders; another's are 404; adding orders is staff work."""
    made = order(client, total="10.00").json()["order"]
    customer = client_as("customer")
    own = customer.get("/api/auth/me").json()["customer"]["id"]
    assert customer.get(f"/api/customers/{own}/rewards").status_code == 200
    assert customer.get("/api/customers/ana/orders").status_code == 404
    assert customer.get(f"/api/orders/{made['id']}").status_code == 404
    assert customer.post(f"/api/customers/{own}/orders", json={"total": "10.00"}).status_code == 403


def test_idempotency_key_replays_the_first_answer(client, ana):
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


def test_erasing_a_customer_keeps_the_money_history_without_the_person(app, client):
    """Orders, ledger and sales stay (amounts intact); the person's name and CPF are gone from them."""
    from models import ErpSale, Order

    client.post(
        "/api/customers",
        json={
            "id": "gone",
            "email": "gone@example.com",
            "first_name": "Bruna",
            "last_name": "Leite",
            "document": "52998224725",
        },
    )
    made = order(client, "gone", total="20.00").json()["order"]
    sale = {
        "sold_at": "2026-11-20 10:00:00",
        "customer": {"document": "52998224725", "name": "Bruna Leite"},
        "total": "10.00",
        "products": [{"type": "A", "value": "10.00", "qty": 1}],
    }
    sale_id = client.post("/api/cashback", json=sale).json()["id"]
    assert client.delete("/api/customers/gone").status_code == 204
    kept = client.get(f"/api/orders/{made['id']}").json()
    assert kept["total"] == "20.00" and kept["customer_id"] is None
    erased = client.get(f"/api/cashback/{sale_id}").json()
    assert erased["name"] == "(erased)" and "52998224725" not in str(erased)
    assert erased["total"] == "10.00"
    with app.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == 2
        assert db.session.scalar(select(func.count()).select_from(Order)) == 2
        assert db.session.scalar(select(ErpSale.customer_pk)) is None


@pytest.mark.parametrize(("total", "value"), [("12.50", "12.50"), (12.5, 12.5), (12.5, "12.50"), ("12.5", 12.5)])
def test_orders_take_the_notations_the_erp_feed_takes(client, ana, total, value):
    """An amount is a string or a JSON number, as in the ERP feed; every answer shows it with two places."""
    response = order(client, total=total, items=[{"type": "A", "value": value, "qty": 1}])
    assert response.status_code == 201, response.text
    assert response.json()["order"]["total"] == "12.50"
    assert response.json()["order"]["items"][0]["value"] == "12.50"
    spent = client.post("/api/customers/ana/redemptions", json={"amount": 0.5})
    assert spent.status_code == 201, spent.text
    assert spent.json()["entry"]["amount"] == "-0.50"


@pytest.mark.parametrize("total", [0, "0.00", -1, 10.005, "10.005", "1e3"])
def test_orders_refuse_amounts_the_erp_feed_refuses(client, ana, total):
    """Zero, negative, more than two places or exponent notation: a 400 on total."""
    response = order(client, total=total)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "total"


@pytest.mark.parametrize("total", ["100000000.00", 100000000, "3077622066.37"])
def test_an_amount_above_the_largest_sale_is_400(client, ana, total):
    """One sale is at most 99999999.99: its points fit the counters (a larger one was a 500 on PostgreSQL)."""
    response = order(client, total=total)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "total"


@pytest.mark.parametrize(("column", "value"), [("points", 2**31 - 100), ("cashback_balance", "9999999999.00")])
def test_a_balance_that_would_overflow_is_422_and_changes_nothing(client, app, ana, column, value):
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
