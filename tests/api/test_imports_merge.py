"""Import batches merged with stored customers, on SQLite and on PostgreSQL (COPY into a staging table)."""

# Duplicates inside one file, updates that clash, wallets, kept ERP sales, atomic mode across batches.

import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy import text as sql

from models import Customer, LedgerEntry, db
from services import imports
from services.imports import STAGING, import_customers
from tests.api.test_imports import count, upload_csv
from tests.conftest import ERP_SALE

CPF = "52998224725"  # a valid CPF (Bruna's, as the ERP sends it)


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 3 rows, so that a short file is written (and in best-effort mode committed) in several."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 3)


def stored(app, customer_id: str) -> Customer | None:
    """The stored customer with this id, read fresh."""
    with app.app.app_context():
        customer = db.session.scalars(select(Customer).where(Customer.id == customer_id)).first()
        if customer is not None:
            db.session.expunge(customer)
        return customer


def signup_entries(app) -> list[tuple[str, Decimal, int, Decimal, str | None]]:
    """(customer id, amount, points balance, cashback balance, actor) of every signup-bonus ledger entry."""
    with app.app.app_context():
        rows = db.session.execute(
            select(Customer.id, LedgerEntry.amount, LedgerEntry.points_balance, LedgerEntry.cashback_balance)
            .add_columns(LedgerEntry.actor)
            .join(Customer, Customer.pk == LedgerEntry.customer_pk)
            .where(LedgerEntry.kind == "signup_bonus")
            .order_by(Customer.id)
        ).all()
        return [tuple(row) for row in rows]


def rejected(report: dict) -> list[tuple[int, str, str | None]]:
    return [(e["line"], e["field"], e["value"]) for e in report["errors"]]


@pytest.mark.parametrize("batches", ["one batch", "batches of 3"])
def test_rows_of_one_file_that_repeat_an_id_email_or_document_are_refused_by_line(client, request, batches):
    """The first row of a pair is stored, the later one refused naming the field it repeats."""
    if batches != "one batch":
        request.getfixturevalue("small_batches")
    text = (
        "id,email,document,first_name\n"
        f"a,a@example.com,{CPF},Ana\n"
        "a,other@example.com,,Again\n"
        "c,A@Example.com,,Carla\n"
        "d,d@example.com,529.982.247-25,Dora\n"
        "e,e@example.com,,Eva\n"
        ",nameless@example.com,,Nameless\n"
    )
    report = upload_csv(client, text).json()
    assert (report["rows_read"], report["created"], report["rejected"]) == (6, 3, 3), report
    assert rejected(report) == [(3, "id", "a"), (4, "email", "a@example.com"), (5, "document", CPF)]
    assert all(e["message"] == "is already taken" for e in report["errors"])
    assert client.get("/api/customers/a").json()["first_name"] == "Ana"
    assert count(client) == 3


def test_a_file_without_an_id_column_gets_ids_and_stores_nulls_for_empty_cells(client, app):
    """Rows without ids get generated ones; cells left empty and columns the file lacks are stored empty."""
    report = upload_csv(client, "email,first_name\nx@example.com,\ny@example.com,Yara\n").json()
    assert (report["created"], report["rejected"]) == (2, 0)
    assert count(client) == 2
    with app.app.app_context():
        names = dict(db.session.execute(select(Customer.email, Customer.first_name)).all())
        assert names == {"x@example.com": None, "y@example.com": "Yara"}
        assert db.session.scalar(select(func.count()).where(Customer.phone_number.is_not(None))) == 0


def test_an_update_sets_only_the_files_columns_bumps_the_version_and_moves_updated_at(client, app):
    """Columns the file lacks keep their value; an empty cell clears its field; new ids are created beside."""
    upload_csv(client, "id,email,phone_number,first_name,last_name\na,a@example.com,3235551234,Ana,Lee\n")
    before = stored(app, "a")
    text = "id,email,first_name,last_name\na,a@example.com,Anna,\nb,,Bia,Silva\n"
    report = upload_csv(client, text, on_conflict="update").json()
    # b has no contact field: refused. a is updated.
    assert (report["created"], report["updated"], report["rejected"]) == (0, 1, 1), report
    after = stored(app, "a")
    assert (after.phone_number, after.first_name, after.last_name) == ("+13235551234", "Anna", None)
    assert after.version == before.version + 1
    assert after.updated_at > before.updated_at and after.created_at == before.created_at
    report = upload_csv(
        client, "id,email,first_name\na,a2@example.com,Ann\nb,b@example.com,Bia\n", on_conflict="update"
    ).json()
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 0), report
    assert (stored(app, "a").email, stored(app, "a").version) == ("a2@example.com", before.version + 2)
    assert stored(app, "b").first_name == "Bia"


def test_an_update_taking_another_customers_email_is_refused_and_the_rest_stored(client):
    """Rows update one at a time in line order: a's new email is still b's at its line; b then changes its own."""
    upload_csv(client, "id,email\na,a@example.com\nb,b@example.com\n")
    text = "id,email\na,b@example.com\nb,b2@example.com\nc,c@example.com\n"
    report = upload_csv(client, text, on_conflict="update").json()
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 1), report
    assert rejected(report) == [(2, "email", "b@example.com")]
    assert client.get("/api/customers/a").json()["email"] == "a@example.com"
    assert client.get("/api/customers/b").json()["email"] == "b2@example.com"
    assert client.get("/api/customers/c").json()["email"] == "c@example.com"


def test_two_updates_taking_one_email_store_the_first_and_refuse_the_second(client):
    """Two rows of one file move two customers to the same address: the earlier line wins."""
    upload_csv(client, "id,email,first_name\na,a@example.com,A\nb,b@example.com,B\n")
    text = "id,email,first_name\na,same@example.com,A2\nb,same@example.com,B2\n"
    report = upload_csv(client, text, on_conflict="update").json()
    assert (report["updated"], report["rejected"]) == (1, 1), report
    assert rejected(report) == [(3, "email", "same@example.com")]
    assert client.get("/api/customers/a").json()["email"] == "same@example.com"
    assert client.get("/api/customers/b").json()["first_name"] == "B"


def test_a_new_row_taking_an_address_an_update_of_the_same_file_gave_away_is_stored(client):
    """Updates come before new rows: an address a row moves away from is free for a new customer."""
    upload_csv(client, "id,email\na,a@example.com\n")
    report = upload_csv(client, "id,email\nn,a@example.com\na,a2@example.com\n", on_conflict="update").json()
    assert (report["created"], report["updated"], report["rejected"]) == (1, 1, 0), report
    assert client.get("/api/customers/n").json()["email"] == "a@example.com"


def test_the_signup_bonus_opens_a_wallet_with_its_ledger_entry_for_each_created_customer(
    client, app, use_settings, small_batches
):
    """As for customers created one by one: the bonus on the wallet and one signup_bonus entry, refused rows none."""
    use_settings(signup_bonus_cashback=Decimal("5.00"))
    text = "id,email\n" + "".join(f"m{i},m{i}@example.com\n" for i in range(5)) + "m0,again@example.com\n"
    report = upload_csv(client, text).json()
    assert (report["created"], report["rejected"]) == (5, 1), report
    assert client.get("/api/customers/m3/rewards").json()["cashback_balance"] == "5.00"
    entries = signup_entries(app)
    assert [e[0] for e in entries] == [f"m{i}" for i in range(5)]
    assert {e[1:4] for e in entries} == {(Decimal("5.00"), 0, Decimal("5.00"))}
    assert all(e[4] for e in entries)  # the staff member who imported
    made = client.post("/api/customers", json={"id": "one", "email": "one@example.com"})
    assert made.status_code == 201
    by_hand = [e for e in signup_entries(app) if e[0] == "one"]
    assert [e[1:4] for e in by_hand] == [(Decimal("5.00"), 0, Decimal("5.00"))]


def test_atomic_mode_across_batches_stores_everything_or_nothing(client, app, use_settings, small_batches):
    """A refused row in the last batch undoes the earlier batches, wallets too; a clean file stores every row."""
    use_settings(signup_bonus_cashback=Decimal("1.50"))
    rows = "".join(f"r{i},r{i}@example.com\n" for i in range(8))
    failed = upload_csv(client, "id,email\n" + rows + "r0,dup@example.com\n", mode="atomic").json()
    assert (failed["status"], failed["created"], failed["rejected"]) == ("failed", 0, 1), failed
    assert rejected(failed) == [(10, "id", "r0")]
    assert count(client) == 0 and signup_entries(app) == []
    good = upload_csv(client, "id,email\n" + rows, mode="atomic").json()
    assert (good["status"], good["created"], good["rejected"]) == ("succeeded", 8, 0), good
    assert count(client) == 8 and len(signup_entries(app)) == 8


def test_a_kept_erp_sale_becomes_an_order_of_the_customer_an_import_creates(client, erp):
    """The ERP sent a sale before the customer existed; the import that creates her credits it."""
    kept = erp.post("/api/cashback", json=ERP_SALE).json()
    assert kept["customer_id"] is None
    report = upload_csv(
        client, f"id,email,first_name,last_name,document\nlate,l@example.com,Bruna,Leite,{CPF}\n"
    ).json()
    assert report["created"] == 1, report
    assert client.get("/api/customers/late/rewards").json()["points"] == 100
    assert client.get(f"/api/cashback/{kept['id']}").json()["customer_id"] == "late"


def test_postgresql_batches_go_through_copy_into_the_staging_table_and_one_merge(app, backend, count_queries):
    """On PostgreSQL each batch is in the staging table when merged: one INSERT ... SELECT per batch, no VALUES."""
    if backend != "postgresql":
        pytest.skip("the COPY path is PostgreSQL's; SQLite inserts with multi-row INSERT statements")
    staged = []

    def on_batch(totals, position, final):
        staged.append(db.session.scalar(sql(f"SELECT count(*) FROM {STAGING}")))

    text = "id,email\n" + "".join(f"p{i},p{i}@example.com\n" for i in range(25)) + "p1,p1b@example.com\n"
    with app.app.app_context(), count_queries() as statements:
        original, imports.BATCH_ROWS = imports.BATCH_ROWS, 10
        try:
            totals = import_customers(
                io.BytesIO(text.encode()),
                mode="best_effort",
                on_conflict="reject",
                settings=app.app.extensions["settings"],
                on_batch=on_batch,
            )
        finally:
            imports.BATCH_ROWS = original
        assert db.session.scalar(select(func.count()).select_from(Customer)) == 25
    assert (totals.created, totals.rejected) == (25, 1)
    assert staged == [10, 10, 6]
    inserts = [s for s in statements if "INSERT INTO customers" in s]
    assert len(inserts) == 3 and all(f"FROM {STAGING}" in s for s in inserts)


def test_postgresql_updates_a_batch_with_one_statement_unless_a_row_could_clash(client, backend, count_queries):
    """Updates that cannot clash go in one UPDATE ... FROM staging; a batch where one could goes row by row."""
    if backend != "postgresql":
        pytest.skip("the staging table is PostgreSQL's; SQLite updates a row at a time")
    upload_csv(client, "id,email\n" + "".join(f"u{i},u{i}@example.com\n" for i in range(4)))
    with count_queries() as statements:
        text = "id,email\n" + "".join(f"u{i},new{i}@example.com\n" for i in range(4))
        assert upload_csv(client, text, on_conflict="update").json()["updated"] == 4
    updates = [s for s in statements if s.lstrip().startswith("UPDATE customers")]
    assert len(updates) == 1 and f"FROM {STAGING}" in updates[0]
    with count_queries() as statements:
        text = "id,email\nu0,new1@example.com\nu1,u1@example.com\nu2,x2@example.com\n"
        report = upload_csv(client, text, on_conflict="update").json()
    assert (report["updated"], report["rejected"]) == (2, 1) and rejected(report) == [(2, "email", "new1@example.com")]
    updates = [s for s in statements if s.lstrip().startswith("UPDATE customers")]
    assert len(updates) == 3 and not any(STAGING in s for s in updates)


def test_cells_that_look_like_copy_syntax_are_stored_as_they_are(client, app):
    r"""Backslashes, \N (COPY's NULL) and quotes in a cell are text like any other."""
    text = 'id,email,first_name,last_name\nq1,q1@example.com,\\N,"O\\\\Neil ""Jr"""\n'
    report = upload_csv(client, text).json()
    assert (report["created"], report["rejected"]) == (1, 0), report
    customer = stored(app, "q1")
    assert (customer.first_name, customer.last_name) == ("\\N", 'O\\\\Neil "Jr"')
