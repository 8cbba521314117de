"""What a customer may not be: bodies refused on creation, and values that must stay unique."""

import pytest

from tests.api.conftest import URL, listing, problem

OK = {"email": "ok@example.com"}

LONG_EMAIL = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".com"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"email": 5}, "email", id="email-number"),
        pytest.param({"email": ["a@x.com"]}, "email", id="email-list"),
        pytest.param(OK | {"first_name": 1}, "first_name", id="first-name-number"),
        pytest.param(OK | {"last_name": True}, "last_name", id="last-name-bool"),
        pytest.param(OK | {"phone_number": 3235551234}, "phone_number", id="phone-number"),
        pytest.param(OK | {"document": 52998224725}, "document", id="document-number"),
        pytest.param(OK | {"account_id": "1"}, "account_id", id="account-string"),
        pytest.param(OK | {"account_id": 1.5}, "account_id", id="account-float"),
        pytest.param(OK | {"account_id": 0}, "account_id", id="account-zero"),
        pytest.param(OK | {"account_id": -1}, "account_id", id="account-negative"),
        pytest.param(OK | {"nickname": "Y"}, "nickname", id="unknown-field"),
        pytest.param(OK | {"created_at": "2020-01-01T00:00:00Z"}, "created_at", id="read-only-field"),
        pytest.param(OK | {"first_name": "a" * 65}, "first_name", id="first-name-65"),
        pytest.param(OK | {"last_name": "a" * 65}, "last_name", id="last-name-65"),
        pytest.param({"email": LONG_EMAIL}, "email", id="email-255"),
        pytest.param(OK | {"client_member_id": "1" * 33}, "client_member_id", id="member-id-33"),
        pytest.param(OK | {"client_member_id": "  "}, "client_member_id", id="member-id-blank"),
        pytest.param(OK | {"first_name": "   "}, "first_name", id="first-name-blank"),
        pytest.param({"email": "not-an-email"}, "email", id="email-no-at"),
        pytest.param({"email": "a@example"}, "email", id="email-no-dot"),
        pytest.param({"email": "a b@example.com"}, "email", id="email-space"),
        pytest.param(OK | {"phone_number": "12"}, "phone_number", id="phone-12"),
        pytest.param(OK | {"phone_number": "abc"}, "phone_number", id="phone-abc"),
        pytest.param(OK | {"country": "XX"}, "country", id="country-XX"),
        pytest.param(OK | {"country": "USA"}, "country", id="country-USA"),
        pytest.param(OK | {"language": "zz"}, "language", id="language-zz"),
        pytest.param(OK | {"document": "529.982.247-24"}, "document", id="cpf-check-digit"),
        pytest.param(OK | {"document": "111.111.111-11"}, "document", id="cpf-same-digits"),
        pytest.param(OK | {"document": "5299822472"}, "document", id="cpf-10-digits"),
        pytest.param(OK | {"document": "abc.def.ghi-jk"}, "document", id="cpf-letters"),
        pytest.param(OK | {"id": "a@b"}, "id", id="id-at"),
        pytest.param(OK | {"id": "a" * 65}, "id", id="id-65"),
        pytest.param(OK | {"id": ""}, "id", id="id-empty"),
        pytest.param({"first_name": "Yank", "country": "US"}, "body", id="no-contact"),
        pytest.param({"email": None, "phone_number": None, "first_name": "Y"}, "body", id="null-contacts"),
        pytest.param({}, "body", id="empty-object"),
        pytest.param([OK], "body", id="array"),
    ],
)
def test_create_with_bad_input_is_400_and_stores_nothing(client, make_customer, body, field):
    """Each kind of invalid body is a 400 problem naming the field, and nothing is stored."""
    make_customer(email="existing@example.com")
    before = listing(client)
    problem(client.post(URL, json=body), 400, field)
    assert listing(client) == before


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"", "application/json", 400),
        (b'{"email": "a@example.com"', "application/json", 400),
        (b"{'email': 'a@example.com'}", "application/json", 400),
        (b"email=a@example.com", "text/plain", 415),
        (b"email=a%40example.com", "application/x-www-form-urlencoded", 415),
    ],
)
def test_create_with_unreadable_body_stores_nothing(client, content, content_type, status):
    """An empty or malformed JSON body is 400 on `body`, a non-JSON content type is 415; nothing is stored."""
    response = client.post(URL, content=content, headers={"Content-Type": content_type})
    problem(response, status, "body" if status == 400 else None)
    assert listing(client) == []


def test_create_with_id_ending_in_newline_is_refused(client):
    """An id with a trailing newline does not match the id rule: 400 on id, nothing stored."""
    response = client.post(URL, json={"email": "a@example.com", "id": "abc\n"})
    assert listing(client) == []
    problem(response, 400, "id")


def test_phone_longer_than_e164_is_refused(client):
    """A number of more than 15 digits is no E.164 number: 400 on phone_number, nothing stored."""
    response = client.post(URL, json={"email": "a@example.com", "phone_number": "+49 30 1234567890123"})
    assert listing(client) == []
    problem(response, 400, "phone_number")


@pytest.mark.parametrize("account_id", [2147483648, 9223372036854775808])
def test_large_account_id_is_refused(client, account_id):
    """An account id beyond the column's 32-bit range is refused on account_id, never a 500."""
    response = client.post(URL, json={"email": "a@example.com", "account_id": account_id})
    problem(response, 400, "account_id")
    assert listing(client) == []


@pytest.mark.parametrize("field", ["first_name", "last_name", "client_member_id"])
def test_nul_character_is_refused(client, field):
    """A NUL character in a text field is refused on that field, never a 500."""
    response = client.post(URL, json={"email": "a@example.com", field: "Ann\x00"})
    problem(response, 400, field)
    assert listing(client) == []


# --- uniqueness -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "field"),
    [
        ({"email": "A@x.com"}, {"email": "a@X.com"}, "email"),
        (
            {"email": "a@x.com", "document": "529.982.247-25"},
            {"email": "b@x.com", "document": "52998224725"},
            "document",
        ),
        ({"email": "a@x.com", "id": "c1"}, {"email": "b@x.com", "id": "c1"}, "id"),
        (
            {"email": "a@x.com", "phone_number": "+1 323 555 1234", "account_id": 5},
            {"email": "b@x.com", "phone_number": "(323) 555-1234", "account_id": 5},
            "phone_number",
        ),
        (
            {"email": "a@x.com", "client_member_id": "M1", "account_id": 5},
            {"email": "b@x.com", "client_member_id": "M1", "account_id": 5},
            "client_member_id",
        ),
    ],
)
def test_duplicate_create_is_409_naming_the_field(client, first, second, field):
    """A second customer holding a unique value of the first is a 409 naming that field; only the first is stored."""
    original = client.post(URL, json=first).json()
    body = problem(client.post(URL, json=second), 409)
    assert body["errors"][0]["field"] == field
    assert listing(client) == [original]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"phone_number": "+13235551234", "account_id": 5}, {"phone_number": "+13235551234", "account_id": 6}),
        ({"phone_number": "+13235551234"}, {"phone_number": "(323) 555-1234"}),
        ({"client_member_id": "M1", "account_id": 5}, {"client_member_id": "M1", "account_id": 6}),
    ],
)
def test_phone_and_member_id_may_repeat_outside_one_account(client, first, second):
    """Phone numbers and client member ids are unique only within one account (none is no account)."""
    assert client.post(URL, json=first).status_code == 201
    assert client.post(URL, json=second).status_code == 201
    assert len(listing(client)) == 2
