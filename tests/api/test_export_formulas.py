"""The export never hands a spreadsheet a formula, and the import reads back exactly what the export wrote."""

import csv
import io
import re

HOSTILE = [
    {
        "id": "-lead",
        "email": "=1+2@example.com",
        "first_name": '=HYPERLINK("http://x","y")',
        "last_name": "@SUM(A1)",
        "phone_number": "+1 323 555 1234",
    },
    {
        "id": "plus",
        "first_name": "+1+2",
        "last_name": "-3",
        "phone_number": "+44 20 7183 8750",
        "client_member_id": "-42",
        "account_id": 7,
    },
    {"id": "quotes", "email": "+tag@example.com", "first_name": "'quoted", "last_name": "'=already"},
    {"id": "accents", "first_name": "José", "last_name": "Ñúñez-Gonçalves", "client_member_id": "''-two quotes"},
    {"id": "tab", "first_name": "\tTab", "client_member_id": "@home", "document": "52998224725"},
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
E164 = re.compile(r"\+\d{1,15}")


def export(client) -> bytes:
    response = client.get("/api/customers/export")
    assert response.status_code == 200, response.text
    return response.content


def stored(client) -> dict[str, dict]:
    """Every customer as the API shows it, without the timestamps the import sets anew."""
    items = client.get("/api/customers", params={"limit": 100}).json()["items"]
    return {c["id"]: {k: v for k, v in c.items() if k not in ("created_at", "updated_at")} for c in items}


def test_hostile_names_round_trip_byte_for_byte(client):
    """Export, erase, import the export, export again: the same bytes, and the API shows the same values."""
    for fields in HOSTILE:
        assert client.post("/api/customers", json=fields).status_code == 201
    before, first = stored(client), export(client)
    assert before["tab"]["first_name"] == "Tab"  # names are trimmed when stored: a tab never reaches a file
    for customer_id in before:
        assert client.delete(f"/api/customers/{customer_id}").status_code == 204
    report = client.post("/api/customers/import", content=first, headers={"Content-Type": "text/csv"}).json()
    assert (report["created"], report["rejected"]) == (len(HOSTILE), 0), report["errors"]
    assert export(client) == first
    assert stored(client) == before
    assert before["-lead"]["first_name"] == '=HYPERLINK("http://x","y")'
    assert before["quotes"]["last_name"] == "'=already"


def test_no_exported_cell_starts_like_a_formula(client):
    """Every cell starting with = + - @ tab or CR is quoted; E.164 phone numbers are written as they are."""
    for fields in HOSTILE:
        assert client.post("/api/customers", json=fields).status_code == 201
    header, *rows = csv.reader(io.StringIO(export(client).decode()))
    phones = []
    for row in rows:
        for column, cell in zip(header, row, strict=True):
            if column == "phone_number" and cell:
                assert E164.fullmatch(cell), cell
                phones.append(cell)
            else:
                assert not cell.startswith(FORMULA_STARTS), (column, cell)
    assert phones == ["+13235551234", "+442071838750"]
    cells = {cell for row in rows for cell in row}
    assert {'\'=HYPERLINK("http://x","y")', "'@SUM(A1)", "'+1+2", "'-3", "'-lead", "''=already"} <= cells
    assert {"'quoted", "'''-two quotes"} <= cells


def test_a_quote_before_other_text_is_kept(client):
    """Only a run of quotes before a formula start is the export's quoting; other leading quotes are data."""
    body = "id,first_name,last_name,client_member_id\nq1,'quoted,O'Hara,'=1\nq2,'',''@x,'\n"
    report = client.post("/api/customers/import", content=body, headers={"Content-Type": "text/csv"}).json()
    assert (report["created"], report["rejected"]) == (2, 0), report["errors"]
    q1, q2 = client.get("/api/customers/q1").json(), client.get("/api/customers/q2").json()
    assert (q1["first_name"], q1["last_name"], q1["client_member_id"]) == ("'quoted", "O'Hara", "=1")
    assert (q2["first_name"], q2["last_name"], q2["client_member_id"]) == ("''", "'@x", "'")
