"""Customer operations: parse the request, call services.customers, shape the answer."""

from api.conditional import if_match
from api.responses import json_response, no_content
from api.security import caller
from schemas.customer import CustomerInput, NewCustomerInput, customer_representation, load_customer
from services import customers
from services.customers import CustomerFilters
from services.settings import current_settings


def _input_schema(schema_class: type[CustomerInput]) -> CustomerInput:
    settings = current_settings()
    return schema_class(phone_region=settings.default_phone_region, supported_languages=settings.supported_languages)


def _single(record: dict, status: int = 200, headers: dict | None = None):
    headers = {"ETag": customers.version_tag(record), **(headers or {})}
    return json_response(customer_representation(record), status, headers)


def list_customers(
    limit=None,
    cursor=None,
    sort="created_at",
    account_id=None,
    phone_number=None,
    client_member_id=None,
    email=None,
    document=None,
    q=None,
):
    """List customers matching the filters, one keyset page at a time."""
    filters = CustomerFilters(account_id, phone_number, client_member_id, email, document, q)
    settings = current_settings()
    page = customers.list_customers(
        filters,
        sort=sort,
        limit=limit or settings.page_size_default,
        cursor=cursor,
        phone_region=settings.default_phone_region,
    )
    return json_response({"items": [customer_representation(r) for r in page.items], "next_cursor": page.next_cursor})


def create_customer(body):
    """Create a customer and point at it."""
    values = load_customer(_input_schema(NewCustomerInput), body)
    record = customers.create_customer(values, signup_bonus=current_settings().signup_bonus_cashback)
    return _single(record, 201, {"Location": f"/api/customers/{record['id']}"})


def get_customer(customer):
    """Get one customer by id or email."""
    return _single(customers.get_customer(customer, caller()))


def replace_customer(customer, body):
    """Replace every mutable field of a customer."""
    values = load_customer(_input_schema(CustomerInput), body)
    return _single(customers.update_customer(customer, values, replace=True, if_match=if_match(), viewer=caller()))


def update_customer(customer, body):
    """Change the given fields of a customer."""
    changes = load_customer(_input_schema(CustomerInput), body)
    return _single(customers.update_customer(customer, changes, replace=False, if_match=if_match(), viewer=caller()))


def delete_customer(customer):
    """Erase a customer."""
    customers.delete_customer(customer, if_match=if_match(), viewer=caller())
    return no_content()
