"""The ERP sales feed: validation, crediting (also later, when the customer appears), forwarding, retries."""

import socket

import pytest

from tests.conftest import ERP_SALE as SALE


def test_sale_of_a_known_customer_becomes_their_order(erp, client, bruna, partner):
    """The sale credits Bruna (cashback A 5% of 10 + B 1% of 90 = 1.40) and is forwarded to the partner."""
    response = erp.post("/api/cashback", json=SALE)
    assert response.status_code == 201, response.text
    sale = response.json()
    assert sale["customer_id"] == "bruna"
    assert sale["cashback"] == "1.40"
    assert sale["status"] == "sent"
    assert sale["attempts"] == 1
    assert sale["partner"] == {"id": 1, "message": "Cashback criado com sucesso!", "createdAt": "2026-11-22T10:00:00Z"}
    assert partner.received == [{"document": "52998224725", "cashback": "1.40"}]
    rewards = client.get("/api/customers/bruna/rewards").json()
    assert rewards["points"] == 100
    assert rewards["cashback_balance"] == "1.40"
    assert client.get(f"/api/cashback/{sale['id']}").json()["order_id"] == sale["order_id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"customer": {"document": "529.982.247-26", "name": "X"}}, "customer.document"),
        ({"customer": {"document": "111.111.111-11", "name": "X"}}, "customer.document"),
        ({"sold_at": "2999-01-01 00:00:00"}, "sold_at"),
        ({"sold_at": "yesterday at noon"}, "sold_at"),
        ({"products": []}, "products"),
        ({"products": [{"type": "Z", "value": "100.00", "qty": 1}]}, "products.0.type"),
        ({"products": [{"type": "A", "value": "-100.00", "qty": 1}]}, "products.0.value"),
        ({"products": [{"type": "A", "value": "100.00", "qty": 0}]}, "products.0.qty"),
        ({"total": "99.99"}, "total"),
        ({"store": "42"}, "store"),
    ],
)
def test_bad_sales_are_400_naming_the_field(erp, client, bruna, change, field):
    """Each refusal names the field and stores nothing."""
    response = erp.post("/api/cashback", json={**SALE, **change})
    assert response.status_code == 400, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert client.get("/api/cashback").json()["items"] == []
    assert client.get("/api/customers/bruna/rewards").json()["points"] == 0


def test_numbers_are_accepted_as_well_as_strings(erp, bruna):
    """The ERP may send amounts as JSON numbers."""
    sale = {
        **SALE,
        "total": 100,
        "products": [{"type": "A", "value": 10, "qty": 1}, {"type": "B", "value": 45.0, "qty": 2}],
    }
    assert erp.post("/api/cashback", json=sale).json()["cashback"] == "1.40"


def test_a_known_document_with_another_name_is_422(erp, bruna):
    """The name must match the customer's, ignoring case, accents and spaces."""
    assert (
        erp.post("/api/cashback", json={**SALE, "customer": {**SALE["customer"], "name": "Ana Souza"}}).status_code
        == 422
    )
    accented = {**SALE, "customer": {**SALE["customer"], "name": "  BRÚNA   léite "}}
    assert erp.post("/api/cashback", json=accented).status_code == 201


@pytest.mark.parametrize("appears", ["created", "given_the_document", "given_the_name"])
def test_a_sale_nobody_matches_is_kept_and_credited_when_the_customer_appears(erp, client, appears):
    """Nothing the ERP sent is lost: the sale waits, then becomes an order of the customer with its CPF and name."""
    kept = erp.post("/api/cashback", json=SALE).json()
    assert kept["customer_id"] is None and kept["order_id"] is None
    bruna = {"id": "late", "email": "late@example.com", "first_name": "Bruna", "last_name": "Leite"}
    if appears == "created":
        created = client.post("/api/customers", json={**bruna, "document": "529.982.247-25"})
    elif appears == "given_the_document":
        client.post("/api/customers", json=bruna)
        created = client.patch("/api/customers/late", json={"document": "52998224725"})
    else:
        client.post("/api/customers", json={"id": "late", "email": "late@example.com", "document": "52998224725"})
        assert client.get("/api/customers/late/rewards").json()["points"] == 0
        created = client.patch("/api/customers/late", json={"first_name": "BRUNA", "last_name": "léite"})
    assert created.status_code in (200, 201), created.text
    assert client.get("/api/customers/late/rewards").json()["points"] == 100
    sale = client.get(f"/api/cashback/{kept['id']}").json()
    assert sale["customer_id"] == "late"
    assert sale["order_id"] is not None


@pytest.mark.parametrize("mode", ["error", "slow", "down", "not_an_object"])
def test_partner_failures_are_kept_and_retried(erp, client, use_settings, bruna, partner, mode):
    """A 500, a timeout, a refused connection or a 201 without a JSON object marks the sale failed; retry sends it."""
    if mode == "down":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            closed_port = probe.getsockname()[1]
        use_settings(cashback_api_url=f"http://127.0.0.1:{closed_port}/api/v1/cashback")
    else:
        partner.mode = mode
    sale = erp.post("/api/cashback", json=SALE).json()
    assert sale["status"] == "failed"
    assert sale["attempts"] == 1
    assert sale["last_error"]
    assert client.get("/api/customers/bruna/rewards").json()["cashback_balance"] == "1.40"  # the customer keeps it
    assert [s["id"] for s in client.get("/api/cashback", params={"status": "failed"}).json()["items"]] == [sale["id"]]
    partner.mode = "created"
    use_settings(cashback_api_url=partner.url)
    retried = client.post(f"/api/cashback/{sale['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["status"] == "sent"
    assert retried.json()["attempts"] == 2
    assert client.post(f"/api/cashback/{sale['id']}/retry").status_code == 422


def test_cli_retries_every_failed_sale(erp, app, bruna, partner):
    """`flask --app app cashback retry` resends the failed ones."""
    partner.mode = "error"
    ids = [erp.post("/api/cashback", json=SALE).json()["id"] for _ in range(2)]
    partner.mode = "created"
    result = app.app.test_cli_runner().invoke(args=["cashback", "retry"])
    assert result.exit_code == 0, result.output
    assert "Retried 2 sales; 2 sent, 0 still failing." in result.output
    assert all(f"{sale_id}: sent" in result.output for sale_id in ids)


def test_without_a_partner_url_sales_are_not_forwarded(erp, bruna):
    """CASHBACK_API_URL unset: kept as not_forwarded."""
    assert erp.post("/api/cashback", json=SALE).json()["status"] == "not_forwarded"


def test_reconciliation_filters(erp, client, bruna):
    """GET /api/cashback filters by status, document and dates."""
    erp.post("/api/cashback", json=SALE)
    erp.post("/api/cashback", json={**SALE, "sold_at": "2026-10-01 10:00:00"})
    assert len(client.get("/api/cashback", params={"document": "529.982.247-25"}).json()["items"]) == 2
    assert len(client.get("/api/cashback", params={"from": "2026-11-01"}).json()["items"]) == 1
    assert client.get("/api/cashback", params={"status": "sent"}).json()["items"] == []


def test_only_the_erp_staff_and_admins_may_post_sales(client_as, bruna):
    """Customers may not push sales; staff may."""
    assert client_as("customer").post("/api/cashback", json=SALE).status_code == 403
    assert client_as("staff").post("/api/cashback", json=SALE).status_code == 201


def test_numeric_values_are_echoed_with_two_places(erp):
    """A sale posted with JSON numbers answers every money value as a two-place string."""
    sale = {
        **SALE,
        "total": 100,
        "products": [{"type": "A", "value": 10, "qty": 1}, {"type": "B", "value": 45, "qty": 2}],
    }
    answer = erp.post("/api/cashback", json=sale)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["total"], body["cashback"]) == ("100.00", "1.40")
    assert [p["value"] for p in body["products"]] == ["10.00", "45.00"]


def test_listing_sales_runs_as_many_statements_for_fifty_sales_as_for_one(erp, client, bruna, count_queries):
    """GET /api/cashback?limit=50 reads the customers and orders of a page at once, not once per sale."""

    def statements_listing(count: int) -> int:
        with count_queries() as statements:
            response = client.get("/api/cashback", params={"limit": 50})
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert len(items) == count
        assert all(sale["customer_id"] == "bruna" and sale["order_id"] for sale in items)
        return len(statements)

    assert erp.post("/api/cashback", json=SALE).status_code == 201
    one = statements_listing(1)
    for _ in range(49):
        assert erp.post("/api/cashback", json=SALE).status_code == 201
    assert statements_listing(50) == one
