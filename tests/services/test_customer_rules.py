"""The field rules of a customer record: each valid input has one stored form, each invalid one is a ValueError."""

import pytest

from services.customer_rules import (
    normalise_client_member_id,
    normalise_country,
    normalise_customer_id,
    normalise_document,
    normalise_email,
    normalise_language,
    normalise_name,
    normalise_phone,
)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("yank.deboo@example.com", "yank.deboo@example.com"),
        ("Yank.Deboo@Example.COM", "yank.deboo@example.com"),
        ("A@X.COM", "a@x.com"),
        ("user+tag@sub.example.org", "user+tag@sub.example.org"),
        ("ÉLODIE@Example.com", "élodie@example.com"),
    ],
)
def test_email_is_stored_in_lower_case(given, stored):
    """A syntactically valid address is kept, lower-cased."""
    assert normalise_email(given) == stored


@pytest.mark.parametrize(
    "given",
    ["", "plain", "a@", "@example.com", "a@example", "a b@example.com", "a@@example.com", "a@exa mple.com"],
)
def test_invalid_email_is_refused(given):
    """An address with broken syntax is a ValueError."""
    with pytest.raises(ValueError):
        normalise_email(given)


@pytest.mark.parametrize(
    ("given", "region", "stored"),
    [
        ("(323) 555-1234", "US", "+13235551234"),
        ("323-555-1234", "US", "+13235551234"),
        ("323.555.1234", "US", "+13235551234"),
        ("+1 323 555 1234", "US", "+13235551234"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("+55 11 98765-4321", "US", "+5511987654321"),
        ("(11) 98765-4321", "BR", "+5511987654321"),
        ("11 98765 4321", "BR", "+5511987654321"),
        ("+1 (323) 555-1234", "BR", "+13235551234"),
        ("+44 20 7946 0958", "BR", "+442079460958"),
    ],
)
def test_phone_is_stored_as_e164(given, region, stored):
    """A possible number is stored in E.164; numbers without a country code take the region's."""
    assert normalise_phone(given, region) == stored


@pytest.mark.parametrize(
    ("given", "region"),
    [
        ("12", "US"),
        ("abc", "US"),
        ("", "US"),
        ("+1 23", "US"),
        ("11 98765-4321", "US"),
        ("12", "BR"),
        ("abc", "BR"),
        ("", "BR"),
    ],
)
def test_impossible_phone_is_refused(given, region):
    """Text that is not a possible number in the region is a ValueError."""
    with pytest.raises(ValueError):
        normalise_phone(given, region)


def test_phone_longer_than_e164_is_refused():
    """A number of more than 15 digits cannot be an E.164 number (nor fit the phone_number column)."""
    with pytest.raises(ValueError):
        normalise_phone("+49 30 1234567890123", "US")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("529.982.247-25", "52998224725"),
        ("52998224725", "52998224725"),
        ("111.444.777-35", "11144477735"),
        ("111 444 777 35", "11144477735"),
        ("111444777/35", "11144477735"),
    ],
)
def test_valid_cpf_is_stored_as_eleven_digits(given, stored):
    """A CPF with right check digits is stored as its 11 digits, punctuation removed."""
    assert normalise_document(given) == stored


@pytest.mark.parametrize(
    "given",
    [
        "529.982.247-24",  # second check digit wrong
        "529.982.247-15",  # first check digit wrong
        "111.111.111-11",  # all the same digit
        "000.000.000-00",
        "5299822472",  # 10 digits
        "529982247251",  # 12 digits
        "abc.def.ghi-jk",
        "5299822472a",
        "",
        "٥٢٩٩٨٢٢٤٧٢٥",  # Arabic-Indic digits
    ],
)
def test_invalid_cpf_is_refused(given):
    """A CPF that is not 11 digits with right check digits, or is all one digit, is a ValueError."""
    with pytest.raises(ValueError):
        normalise_document(given)


@pytest.mark.parametrize(("given", "stored"), [("us", "US"), ("US", "US"), ("Br", "BR"), (" de ", "DE")])
def test_country_is_stored_upper_case(given, stored):
    """An ISO 3166-1 alpha-2 code is stored upper case."""
    assert normalise_country(given) == stored


@pytest.mark.parametrize("given", ["XX", "USA", "U", "", "12"])
def test_unknown_country_is_refused(given):
    """Anything but an ISO 3166-1 alpha-2 code is a ValueError."""
    with pytest.raises(ValueError):
        normalise_country(given)


@pytest.mark.parametrize(("given", "stored"), [("EN", "en"), ("en", "en"), ("Pt", "pt"), (" de ", "de")])
def test_language_is_stored_lower_case(given, stored):
    """With no supported set, any ISO 639-1 code is stored lower case."""
    assert normalise_language(given) == stored


@pytest.mark.parametrize("given", ["zz", "eng", "e", ""])
def test_unknown_language_is_refused(given):
    """Anything but an ISO 639-1 code is a ValueError."""
    with pytest.raises(ValueError):
        normalise_language(given)


@pytest.mark.parametrize(("given", "stored"), [("EN", "en"), ("de", "de")])
def test_supported_language_is_accepted(given, stored):
    """A code in the configured supported set is stored lower case."""
    assert normalise_language(given, frozenset({"de", "en"})) == stored


@pytest.mark.parametrize("given", ["pt", "PT", "zz"])
def test_language_outside_supported_set_is_refused(given):
    """A real ISO 639-1 code outside the configured set is a ValueError, as is an unknown one."""
    with pytest.raises(ValueError):
        normalise_language(given, frozenset({"de", "en"}))


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Yank", "Yank"),
        ("  Yank ", "Yank"),
        ("Ann Marie", "Ann Marie"),
        ("O'Heffernan", "O'Heffernan"),
        ("a" * 64, "a" * 64),
        ("  " + "a" * 64 + "  ", "a" * 64),
    ],
)
def test_name_is_trimmed(given, stored):
    """A name is stored without surrounding spaces."""
    assert normalise_name(given) == stored


@pytest.mark.parametrize("given", ["", "   ", "a" * 65, " " + "a" * 65])
def test_blank_or_long_name_is_refused(given):
    """A blank name or one over 64 characters is a ValueError."""
    with pytest.raises(ValueError):
        normalise_name(given)


@pytest.mark.parametrize("given", ["1", "abc_DEF-123", "a" * 64, "-_-"])
def test_customer_id_is_kept(given):
    """A public id of 1..64 letters, digits, '_' or '-' is kept as given."""
    assert normalise_customer_id(given) == given


@pytest.mark.parametrize(
    "given",
    [
        "",
        "a@b",
        "a b",
        "a.b",
        "a/b",
        "ä",
        "a" * 65,
        "abc\n",
    ],
)
def test_invalid_customer_id_is_refused(given):
    """An id with other characters, or empty, or over 64 characters is a ValueError."""
    with pytest.raises(ValueError):
        normalise_customer_id(given)


@pytest.mark.parametrize(
    ("given", "stored"), [("9436555", "9436555"), (" 9436555 ", "9436555"), ("x" * 32, "x" * 32), ("M-1", "M-1")]
)
def test_client_member_id_is_trimmed(given, stored):
    """A client member id is stored without surrounding spaces."""
    assert normalise_client_member_id(given) == stored


@pytest.mark.parametrize("given", ["", "   ", "x" * 33])
def test_blank_or_long_client_member_id_is_refused(given):
    """A blank client member id or one over 32 characters is a ValueError."""
    with pytest.raises(ValueError):
        normalise_client_member_id(given)
