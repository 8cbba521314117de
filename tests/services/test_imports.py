"""The import's fast paths give exactly the results of the general rules; the report's error cap and counts."""

import io
import random
import unicodedata

import pytest

from config import ConfigurationError, load_settings
from models import ImportJob
from schemas.imports import error_summary
from services.customer_export import spreadsheet_text
from services.customer_rules import CONTROL_CHARACTERS, normalise_phone
from services.imports import RowError, RowRules, Totals, import_customers


def test_control_character_pattern_is_exactly_unicode_category_cc():
    """Every code point: the regex matches if and only if unicodedata says Cc."""
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(CONTROL_CHARACTERS.search(char)) == (unicodedata.category(char) == "Cc"), hex(code)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_phone_fast_path_agrees_with_phonenumbers(seed):
    """Ten-digit NANP numbers under region US: the shortcut and phonenumbers give the same E.164."""
    rng = random.Random(seed)
    rules = RowRules("US", frozenset())
    samples = [f"{rng.randint(2, 9)}{rng.randrange(10**9):09d}" for _ in range(3000)]
    samples += ["2000000000", "9999999999", "2125551234"]
    for number in samples:
        assert rules.phone(number) == normalise_phone(number, "US"), number


@pytest.mark.parametrize("number", ["1284628753", "0123456789", "+1 323 555 1234", "(323) 555-1234", "12"])
def test_other_numbers_take_the_general_path(number):
    """Anything else goes through phonenumbers, with the same result or the same refusal."""
    rules = RowRules("US", frozenset())
    try:
        expected = normalise_phone(number, "US")
    except ValueError:
        with pytest.raises(ValueError):
            rules.phone(number)
        return
    assert rules.phone(number) == expected


def test_fast_path_is_off_for_other_regions():
    """With another default region the general rule decides."""
    assert RowRules("BR", frozenset()).phone("2125551234") == normalise_phone("2125551234", "BR")


def test_totals_keep_the_first_errors_by_line_and_count_every_one():
    """A cap of 3: the three lowest lines stay (duplicates arrive late), counts and the sink see everything."""
    seen = []
    totals = Totals(max_errors=3, sink=seen.append)
    arrivals = [(5, "email"), (6, "email"), (7, "phone_number"), (9, "email"), (3, "document"), (8, "email")]
    for line, field_name in arrivals:
        totals.reject(line, [RowError(line, field_name, f"bad {field_name}", str(line))])
    assert [e.line for e in totals.errors] == [3, 5, 6]
    assert [e.line for e in seen] == [line for line, _ in arrivals]
    assert totals.errors_total == 6 and totals.errors_truncated
    assert totals.counts() == [
        {"field": "email", "message": "bad email", "count": 4},
        {"field": "document", "message": "bad document", "count": 1},
        {"field": "phone_number", "message": "bad phone_number", "count": 1},
    ]


def test_a_cap_of_zero_lists_no_errors_but_counts_them():
    """IMPORT_REPORT_MAX_ERRORS=0: the report lists nothing and says more exist."""
    totals = Totals(max_errors=0)
    totals.reject(2, [RowError(2, "email", "bad", "x"), RowError(2, "row", "worse", None)])
    assert totals.errors == [] and totals.errors_total == 2 and totals.errors_truncated
    assert sum(c["count"] for c in totals.counts()) == 2


def test_without_a_cap_hit_nothing_is_truncated():
    """Fewer errors than the cap: all listed, errors_truncated false."""
    totals = Totals(max_errors=5)
    for line in (4, 2):
        totals.reject(line, [RowError(line, "email", "bad", None)])
    assert [e.line for e in totals.errors] == [2, 4] and not totals.errors_truncated


def test_import_customers_takes_the_cap_and_sink_of_the_totals_passed_in(app, app_context):
    """The service with a cap of 2 and a sink: the first two errors by line, every one in the sink."""
    seen = []
    text = "id,email\n" + "".join(f"r{i},bad-{i}\n" for i in range(10))
    totals = import_customers(
        io.BytesIO(text.encode()),
        mode="best_effort",
        on_conflict="reject",
        settings=app.app.extensions["settings"],
        totals=Totals(max_errors=2, sink=seen.append),
    )
    assert [e.line for e in totals.errors] == [2, 3]
    assert [e.line for e in seen] == list(range(2, 12))
    assert totals.counts() == [{"field": "email", "message": totals.errors[0].message, "count": 10}]


def test_live_report_of_a_running_job_is_capped(app_context):
    """A running job's report shows the live Totals: at most the cap, the counts of all, truncated."""
    live = Totals(max_errors=2)
    for line in range(2, 7):
        live.reject(line, [RowError(line, "email", "bad", "x")])
    summary = error_summary(ImportJob(errors=[], error_counts=[]), live)
    assert [e["line"] for e in summary["errors"]] == [2, 3]
    assert summary["error_counts"] == [{"field": "email", "message": "bad", "count": 5}]
    assert summary["errors_truncated"] is True


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralised(start):
    """OWASP CSV injection: a cell starting like a formula gets a leading single quote."""
    assert spreadsheet_text(start + "1+2") == "'" + start + "1+2"


@pytest.mark.parametrize("value", ["", "ann", "1+2", "a=b", " =1", "'quoted"])
def test_other_cells_are_left_alone(value):
    """Anything else is written as it is."""
    assert spreadsheet_text(value) == value


@pytest.mark.parametrize(("value", "message"), [("-1", "at least 0"), ("many", "whole number")])
def test_import_report_max_errors_must_be_a_whole_number_of_at_least_0(monkeypatch, value, message):
    """IMPORT_REPORT_MAX_ERRORS: default 1000; negative or not a number refuses to start."""
    monkeypatch.delenv("IMPORT_REPORT_MAX_ERRORS", raising=False)
    base = {"APP_ENV": "test", "SECRET_KEY": "k" * 40}
    assert load_settings(base).import_report_max_errors == 1000
    assert load_settings({**base, "IMPORT_REPORT_MAX_ERRORS": "0"}).import_report_max_errors == 0
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**base, "IMPORT_REPORT_MAX_ERRORS": value})


def test_counts_of_many_distinct_messages_stay_bounded():
    """Messages that quote the value cannot grow the counts without end: the rest are counted together."""
    from services.imports import MAX_COUNTED_MESSAGES, OTHER_MESSAGES, RowError, Totals

    totals = Totals(max_errors=10)
    for line in range(2, MAX_COUNTED_MESSAGES + 502):
        totals.reject(line, [RowError(line, "email", f"has the character {line!r}", "x")])
    counts = totals.counts()
    assert len(counts) == MAX_COUNTED_MESSAGES + 1
    assert sum(c["count"] for c in counts) == MAX_COUNTED_MESSAGES + 500
    assert {"field": "email", "message": OTHER_MESSAGES, "count": 500} in counts
