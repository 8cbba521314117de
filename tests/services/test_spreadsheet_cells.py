"""The quoting of formula-like cells (export) and its inverse (import) are one rule read both ways."""

import pytest

from services.customer_export import export_cell, spreadsheet_text
from services.imports import unquoted

CELLS = [
    '=HYPERLINK("http://x","y")',
    "@SUM(A1)",
    "+1+2",
    "-3",
    "\tTab",
    "\rCR",
    "'quoted",
    "'=already",
    "''-twice",
    "'",
    "O'Hara",
    "José Ñúñez",
    "",
    "a=b",
    " =1",
]


@pytest.mark.parametrize("value", CELLS)
def test_unquoting_the_quoted_text_gives_the_value_back(value):
    """Import(export(v)) == v for every text, hostile or not."""
    assert unquoted(spreadsheet_text(value)) == value


@pytest.mark.parametrize("value", CELLS)
def test_quoted_text_never_starts_like_a_formula(value):
    """What the export writes starts with none of = + - @ tab CR."""
    assert not spreadsheet_text(value).startswith(("=", "+", "-", "@", "\t", "\r"))


def test_quotes_before_a_formula_start_get_one_more():
    """'=x is quoted too, or the import would take its quote for the export's."""
    assert spreadsheet_text("'=x") == "''=x"
    assert unquoted("''=x") == "'=x"
    assert unquoted("'quoted") == "'quoted"


@pytest.mark.parametrize(
    ("column", "value", "cell"),
    [
        ("phone_number", "+13235551234", "+13235551234"),
        ("phone_number", "+1=2", "'+1=2"),
        ("client_member_id", "+13235551234", "'+13235551234"),
        ("account_id", 12, "12"),
        ("email", None, ""),
    ],
)
def test_only_e164_phone_numbers_are_written_unquoted(column, value, cell):
    """A phone cell of '+' and digits alone stays importable as it is; anything else follows the rule."""
    assert export_cell(column, value) == cell
