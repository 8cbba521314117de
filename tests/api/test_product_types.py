"""Product types: their cashback rates change, and a type in use by an order or a kept sale stays."""

from tests.conftest import ERP_SALE as SALE
from tests.conftest import order


def test_product_types_can_change_but_not_be_deleted_in_use(client, ana_customer):
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


def test_a_product_type_a_kept_sale_uses_cannot_be_deleted(erp, client):
    """Deleting a type a waiting sale names is 409 "is in use", and the customer with that CPF can still be made."""
    client.put("/api/product-types/E", json={"cashback_percent": "3"})
    sale = {**SALE, "total": "10.00", "products": [{"type": "E", "value": "10.00", "qty": 1}]}
    assert erp.post("/api/cashback", json=sale).status_code == 201
    refused = client.delete("/api/product-types/E")
    assert refused.status_code == 409
    assert refused.json()["errors"] == [{"field": "code", "message": "is in use"}]
    bruna = {"email": "late@example.com", "first_name": "Bruna", "last_name": "Leite", "document": "52998224725"}
    created = client.post("/api/customers", json=bruna)
    assert created.status_code == 201, created.text
    assert created.json()["rewards"]["points"] == 10
