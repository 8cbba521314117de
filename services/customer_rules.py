"""The field rules of a customer record: each normaliser returns the stored form or raises ValueError."""

import re
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
E164_MAX = 16  # "+" and at most 15 digits
ACCOUNT_ID_MAX = 2**31 - 1  # the column is a 32-bit integer
CPF_PUNCTUATION = re.compile(r"[.\-/\s]")
CONTACT_FIELDS = ("email", "phone_number", "client_member_id", "document")
MUTABLE_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "client_member_id",
    "account_id",
    "document",
    "country",
    "language",
)
# What a customer may change on their own record; email moves through /auth/email, the rest is set by staff.
SELF_SERVICE_FIELDS = ("first_name", "last_name", "phone_number", "country", "language")


def normalise_email(value: str) -> str:
    """Validate the syntax (no DNS) and return the address in lower case."""
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    return result.normalized.lower()


def email_key(text: str) -> str:
    """An address as it is stored, for look-ups and limits: normalised when valid, else trimmed and lower case."""
    try:
        return normalise_email(text)
    except ValueError:
        return text.strip().lower()


def normalise_phone(value: str, region: str) -> str:
    """Parse with the default region, require a possible number, return E.164."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValueError("is not a phone number") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible phone number")
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if len(formatted) > E164_MAX:
        raise ValueError("is not a possible phone number")
    return formatted


def normalise_document(value: str) -> str:
    """Return the 11 digits of a Brazilian CPF whose check digits are right."""
    digits = CPF_PUNCTUATION.sub("", value)
    if len(digits) != 11 or not digits.isascii() or not digits.isdigit():
        raise ValueError("must be a CPF of 11 digits")
    if digits == digits[0] * 11:
        raise ValueError("is not a valid CPF (all digits are the same)")
    numbers = [int(d) for d in digits]
    for position in (9, 10):
        total = sum(n * weight for n, weight in zip(numbers[:position], range(position + 1, 1, -1), strict=True))
        check = total * 10 % 11 % 10
        if numbers[position] != check:
            raise ValueError("is not a valid CPF (check digits do not match)")
    return digits


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    return frozenset(country.alpha_2 for country in pycountry.countries)


@lru_cache(maxsize=1)
def _language_codes() -> frozenset[str]:
    return frozenset(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))


def normalise_country(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, stored upper case."""
    code = value.strip().upper()
    if code not in _country_codes():
        raise ValueError("is not an ISO 3166-1 alpha-2 country code")
    return code


def normalise_language(value: str, supported: frozenset[str] = frozenset()) -> str:
    """An ISO 639-1 code, stored lower case, limited to the supported set when one is configured."""
    code = value.strip().lower()
    if code not in _language_codes():
        raise ValueError("is not an ISO 639-1 language code")
    if supported and code not in supported:
        raise ValueError(f"is not supported (one of {', '.join(sorted(supported))})")
    return code


def reject_control_characters(value: str) -> str:
    """Text with no control characters (NUL and the like never belong in a record, and PostgreSQL refuses NUL)."""
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("must not contain control characters")
    return value


def normalise_name(value: str) -> str:
    """Trim surrounding spaces; a name is 1..64 characters."""
    name = reject_control_characters(value.strip())
    if not name:
        raise ValueError("must not be blank")
    if len(name) > 64:
        raise ValueError("must be at most 64 characters")
    return name


def normalise_customer_id(value: str) -> str:
    """A public id: 1..64 of letters, digits, '_' and '-'."""
    if not ID_PATTERN.fullmatch(value):
        raise ValueError("must be 1..64 letters, digits, '_' or '-'")
    return value


def normalise_client_member_id(value: str) -> str:
    """Trim surrounding spaces; 1..32 characters."""
    member_id = reject_control_characters(value.strip())
    if not 1 <= len(member_id) <= 32:
        raise ValueError("must be 1..32 characters")
    return member_id
