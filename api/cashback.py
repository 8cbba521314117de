"""The ERP sales feed and its reconciliation: receive a sale, list and inspect them, retry forwarding."""

from api.idempotency import idempotent
from api.params import time_window
from api.responses import json_response
from schemas.sales import sale_representation, sale_representations
from services import cashback
from services.customers import customer_from_ref
from services.settings import current_settings


@idempotent
def record_sale(body):
    """Receive a sale from the ERP: validate, credit the customer (or keep it), forward the cashback."""
    forwarded = cashback.receive_sale(body, current_settings())
    return json_response(sale_representation(forwarded), 201, {"Location": f"/api/cashback/{forwarded.id}"})


def list_sales(status=None, document=None, assigned=None, from_=None, to=None, limit=None, cursor=None):
    """Sales for reconciliation, newest first."""
    filters = cashback.SaleFilters(status, document, time_window(from_, to), assigned)
    page = cashback.list_sales(filters, limit=limit or current_settings().page_size_default, cursor=cursor)
    return json_response({"items": sale_representations(page.items), "next_cursor": page.next_cursor})


def get_sale(sale_id):
    """One sale with the partner's answer."""
    return json_response(sale_representation(cashback.sale_from_id(sale_id)))


def assign_sale(sale_id, body):
    """Attach an unattached sale to a customer by hand."""
    customer = customer_from_ref(body["customer"], field="customer")
    return json_response(sale_representation(cashback.assign_sale(sale_id, customer)))


def retry_sale(sale_id):
    """Send a failed sale to the partner again."""
    return json_response(sale_representation(cashback.retry(sale_id, current_settings())))
