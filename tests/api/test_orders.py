"""Orders earning points and cashback, reversals, listing, who sees them, erasure, the amounts they take."""

import pytest
from sqlalchemy import func, select

from models import LedgerEntry, db
from tests.conftest import order


def test_order_earns_points_and_cashback_by_product_type(client, ana_customer):
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
def test_bad_orders_are_400_and_change_nothing(client, ana_customer, body, field):
    """A bad order names the field and leaves points, balance and ledger as they were."""
    response = order(client, **body)
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/api/customers/ana/rewards").json()["points"] == 0
    assert client.get("/api/customers/ana/ledger").json()["items"] == []


def test_duplicate_external_id_is_409(client, ana_customer):
    """The till's id is unique."""
    assert order(client, total="10.00", external_id="till-9").status_code == 201
    again = order(client, total="10.00", external_id="till-9")
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "external_id"
    assert client.get("/api/customers/ana/rewards").json()["points"] == 10


def test_reversal_undoes_the_sale_and_the_tier_falls_back(client, ana_customer):
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


def test_orders_are_listed_and_filtered(client, ana_customer):
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


def test_customers_see_only_their_own_orders(client, client_as, ana_customer):
    """A customer reads their own rewards and orders; another's are 404; adding orders is staff work."""
    made = order(client, total="10.00").json()["order"]
    customer = client_as("customer")
    own = customer.get("/api/auth/me").json()["customer"]["id"]
    assert customer.get(f"/api/customers/{own}/rewards").status_code == 200
    assert customer.get("/api/customers/ana/orders").status_code == 404
    assert customer.get(f"/api/orders/{made['id']}").status_code == 404
    assert customer.post(f"/api/customers/{own}/orders", json={"total": "10.00"}).status_code == 403


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
def test_orders_take_the_notations_the_erp_feed_takes(client, ana_customer, total, value):
    """An amount is a string or a JSON number, as in the ERP feed; every answer shows it with two places."""
    response = order(client, total=total, items=[{"type": "A", "value": value, "qty": 1}])
    assert response.status_code == 201, response.text
    assert response.json()["order"]["total"] == "12.50"
    assert response.json()["order"]["items"][0]["value"] == "12.50"
    spent = client.post("/api/customers/ana/redemptions", json={"amount": 0.5})
    assert spent.status_code == 201, spent.text
    assert spent.json()["entry"]["amount"] == "-0.50"


@pytest.mark.parametrize("total", [0, "0.00", -1, 10.005, "10.005", "1e3"])
def test_orders_refuse_amounts_the_erp_feed_refuses(client, ana_customer, total):
    """Zero, negative, more than two places or exponent notation: a 400 on total."""
    response = order(client, total=total)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "total"


@pytest.mark.parametrize("total", ["100000000.00", 100000000, "3077622066.37"])
def test_an_amount_above_the_largest_sale_is_400(client, ana_customer, total):
    """One sale is at most 99999999.99: its points fit the counters (a larger one was a 500 on PostgreSQL)."""
    response = order(client, total=total)
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "total"


def test_listing_orders_runs_as_many_statements_for_fifty_orders_as_for_one(client, ana_customer, count_queries):
    """GET /api/orders reads the items and customers of a page at once, not once per order."""

    def statements_listing(count: int) -> int:
        with count_queries() as statements:
            response = client.get("/api/orders", params={"limit": 50})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert len(items) == count
        assert all(made["items"] and made["customer_id"] for made in items)
        return len(statements)

    item = {"type": "A", "value": "10.00", "qty": 1}
    assert order(client, total="10.00", items=[item]).status_code == 201
    one = statements_listing(1)
    for n in range(4):
        assert client.post("/api/customers", json={"id": f"c{n}", "email": f"c{n}@example.com"}).status_code == 201
    for n in range(49):
        assert order(client, f"c{n % 4}", total="10.00", items=[item]).status_code == 201
    assert statements_listing(50) == one


def test_the_answer_is_the_order_as_stored(client, ana_customer):
    """The answer is built from the values written (no read-back): it matches what a later GET reads from the row."""
    response = order(
        client,
        total="100.8",
        sold_at="2024-03-01T10:00:00.123456+02:00",
        external_id="till-42",
        items=[{"type": "A", "value": "50.4", "qty": 2}],
    )
    assert response.status_code == 201, response.text
    placed = response.json()["order"]
    assert placed["total"] == "100.80"
    assert placed["sold_at"] == "2024-03-01T08:00:00.123456Z"
    assert placed["items"] == [{"type": "A", "value": "50.40", "qty": 2}]
    assert placed["reversed_at"] is None
    assert client.get(f"/api/orders/{placed['id']}").json() == placed


def test_an_order_for_an_unknown_customer_is_404_and_stores_nothing(client, ana_customer):
    response = order(client, customer="nobody", total="10.00")
    assert response.status_code == 404
    assert client.get("/api/orders").json()["items"] == []


def test_an_order_uses_the_rate_committed_just_before(client, ana_customer):
    """Product-type rates are read in the order's own transaction: a change is used by the very next order."""
    body = {"total": "100.00", "items": [{"type": "A", "value": "100.00", "qty": 1}]}
    assert order(client, **body).json()["order"]["cashback"] == "5.00"
    assert client.put("/api/product-types/A", json={"cashback_percent": "20"}).status_code == 200
    assert order(client, **body).json()["order"]["cashback"] == "20.00"
