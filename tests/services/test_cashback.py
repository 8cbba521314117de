"""The ERP sales service on the real database: how many kept sales a customer receives, the order of the failed
ones, and what erasing a customer leaves on their sales."""

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from models import Customer, ErpSale, db
from models.types import utcnow
from services import cashback
from services.orders import Item
from services.settings import current_settings

SOLD_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
CPF, OTHER_CPF = "52998224725", "11144477735"


def _sale(document: str = CPF, name: str = "Bruna Leite", total: str = "10.00") -> ErpSale:
    items = [Item("D", Decimal(total), 1)]
    return cashback.record_sale(
        cashback.Sale(document=document, name=name, sold_at=SOLD_AT, total=Decimal(total), items=items)
    )


def _customer(document: str | None, first_name: str | None, last_name: str | None = None) -> Customer:
    now = utcnow()
    record = Customer(
        id=f"c{document}{first_name}",
        email=f"{first_name}{document}@example.com".lower(),
        document=document,
        first_name=first_name,
        last_name=last_name,
        created_at=now,
        updated_at=now,
    )
    db.session.add(record)
    db.session.flush()
    return record


def test_a_customer_receives_each_kept_sale_with_their_cpf_and_name_and_is_told_how_many(app_context):
    ids = [_sale().id, _sale(total="20.00").id, _sale(name="Outra Pessoa").id, _sale(OTHER_CPF).id]
    bruna = _customer(CPF, "Bruna", "Leite")
    assert cashback.credit_unassigned_sales(bruna) == 2
    db.session.commit()
    attached = {s.id: s.customer_pk for s in db.session.scalars(select(ErpSale))}
    assert attached == {ids[0]: bruna.pk, ids[1]: bruna.pk, ids[2]: None, ids[3]: None}
    assert db.session.get(Customer, bruna.pk).points == 30
    assert cashback.credit_unassigned_sales(bruna) == 0  # nothing is credited twice


@pytest.mark.parametrize(("document", "first_name"), [(None, "Bruna"), (CPF, None)])
def test_a_customer_without_cpf_or_name_receives_nothing(app_context, document, first_name):
    _sale()
    assert cashback.credit_unassigned_sales(_customer(document, first_name)) == 0
    assert db.session.scalars(select(ErpSale.customer_pk)).one() is None


def test_failed_sales_are_listed_oldest_first(app_context):
    """In the order they arrived, whatever order they failed in."""
    sales = [_sale(total=f"{n}.00") for n in (3, 1, 2)]
    for sale in (sales[2], sales[0]):
        db.session.execute(update(ErpSale).where(ErpSale.id == sale.id).values(status="failed"))
        db.session.commit()
    assert cashback.failed_sale_ids() == [sales[0].id, sales[2].id]


def test_erasing_a_customer_blanks_their_sales_and_stamps_the_change(app_context):
    """Name and CPF go, amounts and the order stay, and updated_at says when (for reconciliation)."""
    bruna = _customer(CPF, "Bruna", "Leite")
    db.session.commit()
    sale = _sale()
    other = _sale(OTHER_CPF, "Outra Pessoa")
    before = datetime.now(UTC)
    cashback.forget_sales_of(bruna)
    db.session.commit()
    erased = db.session.get(ErpSale, sale.pk, populate_existing=True)
    assert (erased.name, erased.document, erased.total, erased.order_pk is not None) == (
        "(erased)",
        "00000000000",
        Decimal("10.00"),
        True,
    )
    assert erased.updated_at >= before
    untouched = db.session.get(ErpSale, other.pk, populate_existing=True)
    assert (untouched.name, untouched.document) == ("Outra Pessoa", OTHER_CPF)


def test_housekeeping_finds_the_sales_whose_automatic_attempt_is_due(app_context):
    """Due: a failure past its backoff, an attempt whose worker died (lease lapsed), a sale never tried. Not due:
    a failure within its backoff, an attempt still running, a sale sent, a sale out of attempts."""
    settings = replace(current_settings(), cashback_api_url="http://127.0.0.1:9/cashback", cashback_retry_delay=30)
    hour_ago, now = utcnow() - timedelta(hours=1), utcnow()
    states = {
        "failed long ago": {"status": "failed", "attempts": 2, "last_error": "HTTP 500", "updated_at": hour_ago},
        "worker died": {"status": "failed", "attempts": 2, "last_error": None, "updated_at": hour_ago},
        "never tried": {"status": "not_forwarded", "attempts": 0, "last_error": None, "updated_at": hour_ago},
        "failed just now": {"status": "failed", "attempts": 1, "last_error": "HTTP 500", "updated_at": now},
        "being sent": {"status": "not_forwarded", "attempts": 1, "last_error": None, "updated_at": now},
        "sent": {"status": "sent", "attempts": 1, "last_error": None, "updated_at": hour_ago},
        "out of attempts": {"status": "failed", "attempts": 5, "last_error": "HTTP 500", "updated_at": hour_ago},
    }
    ids = {}
    for state, values in states.items():
        ids[state] = _sale().id
        db.session.execute(update(ErpSale).where(ErpSale.id == ids[state]).values(**values))
        db.session.commit()
    assert cashback.due_sale_ids(settings) == [ids["failed long ago"], ids["worker died"], ids["never tried"]]
    assert cashback.due_sale_ids(replace(settings, cashback_api_url="")) == []  # no partner: nothing is due
