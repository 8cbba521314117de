"""The field rules of a customer record: each normaliser returns the stored form or raises ValueError.

FIELDS, at the end, is the one table of the writable fields: the API's input schemas (schemas.customer), the CSV
import's columns and rules (services.imports), the export's header and the representation all follow it.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
E164_MAX = 16  # "+" and at most 15 digits
ACCOUNT_ID_RANGE = (1, 2**31 - 1)  # the column is a 32-bit integer
CPF_PUNCTUATION = re.compile(r"[.\-/\s]")


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


def normalise_account_id(value: str) -> int:
    """An account id written as text (a CSV cell): a whole number in ACCOUNT_ID_RANGE."""
    low, high = ACCOUNT_ID_RANGE
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise ValueError(f"must be a whole number from {low} to {high}")
    return int(value)


# --- The table of customer fields: the API's input schemas, the CSV import and the export all follow it. ---


@dataclass(frozen=True)
class FieldContext:
    """The settings some rules take besides the text (DEFAULT_PHONE_REGION, SUPPORTED_LANGUAGES)."""

    phone_region: str
    supported_languages: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CustomerField:
    """One writable field of a customer record."""

    name: str
    # rule(text, *the FieldContext values named in `needs`) -> the stored form; ValueError refuses the text.
    rule: Callable[..., object]
    needs: tuple[str, ...] = ()
    contact: bool = False  # a customer needs at least one contact field
    self_service: bool = False  # a customer may change it on their own record (else only staff)
    # Set for a number: a JSON integer in this range in the API; `rule` reads the same from text (CSV).
    integer_range: tuple[int, int] | None = None

    def normaliser(self, context: FieldContext) -> Callable[[str], object]:
        """The rule as a function of the text alone, with the settings it needs bound."""
        if not self.needs:
            return self.rule
        rule, settings = self.rule, tuple(getattr(context, need) for need in self.needs)
        return lambda text: rule(text, *settings)


# In the order of the CSV columns and of the representation. Email is not self-service: it moves through
# /auth/email (a mailed link); a customer never sets their own CPF or account.
FIELDS: tuple[CustomerField, ...] = (
    CustomerField("email", normalise_email, contact=True),
    CustomerField("first_name", normalise_name, self_service=True),
    CustomerField("last_name", normalise_name, self_service=True),
    CustomerField("phone_number", normalise_phone, ("phone_region",), contact=True, self_service=True),
    CustomerField("client_member_id", normalise_client_member_id, contact=True),
    CustomerField("account_id", normalise_account_id, integer_range=ACCOUNT_ID_RANGE),
    CustomerField("document", normalise_document, contact=True),
    CustomerField("country", normalise_country, self_service=True),
    CustomerField("language", normalise_language, ("supported_languages",), self_service=True),
)
# The public id: given only when a customer is created (exports carry one), never changed.
ID_FIELD = CustomerField("id", normalise_customer_id)

MUTABLE_FIELDS = tuple(field.name for field in FIELDS)
CONTACT_FIELDS = tuple(field.name for field in FIELDS if field.contact)
SELF_SERVICE_FIELDS = tuple(field.name for field in FIELDS if field.self_service)
# The id and the writable fields: the CSV columns (import and export header, in this order) and the stored
# fields of the representation.
PUBLIC_FIELDS = (ID_FIELD.name, *MUTABLE_FIELDS)
