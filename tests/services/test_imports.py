"""The import's fast paths give exactly the results of the general rules."""

import random
import unicodedata

import pytest

from services.customer_rules import CONTROL_CHARACTERS, normalise_phone
from services.imports import RowRules


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
