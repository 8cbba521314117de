"""The customer collection and resources over HTTP: creation, validation, uniqueness, look-up, listing, changes."""

import base64
import json
import re
from datetime import datetime

import pytest

from services.pagination import seal, signing_key_for
from tests.conftest import TEST_SECRET_KEY

URL = "/api/customers"
PROBLEM_KEYS = {"type", "title", "status", "detail", "request_id"}
REPRESENTATION_KEYS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "phone_number",
    "client_member_id",
    "account_id",
    "document",
    "country",
    "language",
    "created_at",
    "updated_at",
    "rewards",
}
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OK = {"email": "ok@example.com"}
MAX_PAGES = 20

YANK = {
    "id": "yank",
    "email": "Yank.Deboo@Example.com",
    "first_name": "  Yank ",
    "last_name": " Deboo",
    "phone_number": "(323) 555-1234",
    "client_member_id": "9436555",
    "account_id": 12,
    "document": "529.982.247-25",
    "country": "us",
    "language": "EN",
}
YANK_STORED = {
    "id": "yank",
    "email": "yank.deboo@example.com",
    "first_name": "Yank",
    "last_name": "Deboo",
    "phone_number": "+13235551234",
    "client_member_id": "9436555",
    "account_id": 12,
    "document": "52998224725",
    "country": "US",
    "language": "en",
}


def problem(response, status: int, field: str | None = None) -> dict:
    """Check a problem+json answer and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS
    assert body["status"] == status
    if field is not None:
        assert field in [error["field"] for error in body["errors"]], body
    return body


def listing(client, **params) -> list[dict]:
    """One page of the collection (up to 100 items)."""
    response = client.get(URL, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


def ids(items: list[dict]) -> list[str]:
    return [item["id"] for item in items]


def walk(client, limit: int, **params) -> list[list[str]]:
    """Every page of the collection, following next_cursor; the ids of each page."""
    pages, cursor = [], None
    for _ in range(MAX_PAGES):
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get(URL, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(ids(body["items"]))
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
    pytest.fail(f"next_cursor still set after {MAX_PAGES} pages")


def cursor_of(sort: str, *values) -> str:
    """A cursor built by hand and signed with the test app's key, so only what it holds can make it invalid."""
    return seal(json.dumps([f"customers:{sort}", *values]).encode(), signing_key_for(TEST_SECRET_KEY))


def when(moment: str) -> datetime:
    return datetime.fromisoformat(moment.replace("Z", "+00:00"))


@pytest.fixture
def yank(client):
    """A stored customer with every field set, and its ETag."""
    response = client.post(URL, json=YANK)
    assert response.status_code == 201, response.text
    return response.json() | {"etag": response.headers["etag"]}


@pytest.fixture
def people(make_customer):
    """Five customers, created in this order: cat, dan, bob, eve, ann."""
    make_customer(
        id="cat",
        email="cat@example.com",
        first_name="Cat",
        last_name="Jones",
        phone_number="+13235551234",
        account_id=2,
        client_member_id="M1",
        document="111.444.777-35",
    )
    make_customer(id="dan", email=None, first_name="Dan", last_name="Young", client_member_id="M3")
    make_customer(
        id="bob",
        email="bob@example.com",
        first_name="Bob",
        last_name="Annan",
        phone_number="+13235551235",
        account_id=1,
        client_member_id="M2",
    )
    make_customer(id="eve", email="eve@example.com", first_name="Eve", client_member_id="M5")
    make_customer(
        id="ann",
        email="ann.smith@example.com",
        first_name="Ann",
        last_name="Smith",
        phone_number="+13235551234",
        account_id=1,
        client_member_id="M1",
        document="529.982.247-25",
    )


# --- create ---------------------------------------------------------------------------------------


def test_create_answers_201_with_location_etag_and_representation(client):
    """Creating answers 201, points Location at the customer, carries an ETag and the stored representation."""
    response = client.post(URL, json=YANK)
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["location"] == "/api/customers/yank"
    assert response.headers["etag"]
    body = response.json()
    assert body.keys() == REPRESENTATION_KEYS
    assert {k: body[k] for k in YANK_STORED} == YANK_STORED
    assert body["created_at"].endswith("Z")
    assert body["updated_at"] == body["created_at"]
    fetched = client.get(response.headers["location"])
    assert fetched.json() == body
    assert fetched.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("field", "given", "stored"),
    [
        ("email", "A.B@X.COM", "a.b@x.com"),
        ("first_name", "  Ann ", "Ann"),
        ("last_name", "Smith   ", "Smith"),
        ("phone_number", "(323) 555-1234", "+13235551234"),
        ("phone_number", "+44 20 7946 0958", "+442079460958"),
        ("document", "529.982.247-25", "52998224725"),
        ("country", "us", "US"),
        ("language", "EN", "en"),
        ("client_member_id", " 9436555 ", "9436555"),
        ("account_id", 2147483647, 2147483647),
    ],
)
def test_create_stores_the_normalised_form(client, field, given, stored):
    """Each field is stored in its normal form, as the answer and a later GET both show."""
    response = client.post(URL, json={"client_member_id": "m1", field: given})
    assert response.status_code == 201, response.text
    assert response.json()[field] == stored
    assert client.get(response.headers["location"]).json()[field] == stored


def test_generated_ids_are_distinct_and_url_safe(client):
    """Without an id the service makes one of 1..64 URL-safe characters, different for each customer."""
    first = client.post(URL, json={"email": "a@example.com"}).json()["id"]
    second = client.post(URL, json={"email": "b@example.com"}).json()["id"]
    assert ID_PATTERN.match(first)
    assert ID_PATTERN.match(second)
    assert first != second


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


# --- get ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref",
    ["yank", "yank.deboo@example.com", "Yank.Deboo@Example.com", "YANK.DEBOO@EXAMPLE.COM", "yank.deboo%40example.com"],
)
def test_get_by_id_or_email_in_any_case(client, yank, ref):
    """A customer is found by id, or by email written in any case."""
    response = client.get(f"{URL}/{ref}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == "yank"
    assert response.headers["etag"] == yank["etag"]


@pytest.mark.parametrize("ref", ["nobody", "nobody@example.com", "YANK"])
def test_get_unknown_is_404(client, yank, ref):
    """An unknown id or email is a 404 problem (ids are case-sensitive)."""
    problem(client.get(f"{URL}/{ref}"), 404)


@pytest.mark.parametrize(
    "email",
    [
        "Yank.Deboo@Example.com",
        "a@xn--bcher-kva.com",
        "E\u0301lodie@example.com",
    ],
)
def test_customer_is_found_by_the_email_it_was_created_with(client, email):
    """The address exactly as given at creation finds the customer, in the path and in the email filter."""
    created = client.post(URL, json={"email": email}).json()
    response = client.get(f"{URL}/{email}")
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    assert ids(listing(client, email=email)) == [created["id"]]


def test_nul_in_path_is_refused(client):
    """A reference holding a NUL character is a 400 naming it, never a 500."""
    problem(client.get(f"{URL}/a%00@example.com"), 400, "customer")


# --- list: order, filters, limits -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["cat", "dan", "bob", "eve", "ann"]),
        ({"sort": "created_at"}, ["cat", "dan", "bob", "eve", "ann"]),
        ({"sort": "-created_at"}, ["ann", "eve", "bob", "dan", "cat"]),
        ({"sort": "email"}, ["ann", "bob", "cat", "eve", "dan"]),
        ({"sort": "last_name"}, ["bob", "cat", "ann", "dan", "eve"]),
    ],
)
def test_list_order(client, people, params, expected):
    """The default order is creation; the other sorts order by their field, customers without it last."""
    assert ids(listing(client, **params)) == expected


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"account_id": 1}, ["bob", "ann"]),
        ({"account_id": 3}, []),
        ({"phone_number": "(323) 555-1234"}, ["cat", "ann"]),
        ({"phone_number": "+1 323-555-1235"}, ["bob"]),
        ({"client_member_id": "M1"}, ["cat", "ann"]),
        ({"email": "ANN.Smith@Example.com"}, ["ann"]),
        ({"email": "ann@example.com"}, []),
        ({"document": "529.982.247-25"}, ["ann"]),
        ({"document": "11144477735"}, ["cat"]),
        ({"q": "ann"}, ["bob", "ann"]),
        ({"q": "ANN"}, ["bob", "ann"]),
        ({"q": "jon"}, ["cat"]),
        ({"q": "cat@"}, ["cat"]),
        ({"q": "mith"}, []),
        ({"q": "example"}, []),
        ({"account_id": 1, "phone_number": "(323) 555-1234"}, ["ann"]),
        ({"account_id": 2, "client_member_id": "M1"}, ["cat"]),
        ({"q": "ann", "account_id": 2}, []),
        ({"client_member_id": "M1", "document": "529.982.247-25"}, ["ann"]),
        ({"q": "a", "sort": "-created_at"}, ["ann", "bob"]),
    ],
)
def test_list_filters(client, people, params, expected):
    """Each filter matches the normalised value; q is a case-insensitive prefix of name or email; filters AND."""
    assert ids(listing(client, **params)) == expected


@pytest.mark.parametrize(("q", "expected"), [("a%", ["pct"]), ("a_", ["und"]), ("a", ["pct", "axb", "und", "ayc"])])
def test_list_q_treats_percent_and_underscore_literally(client, make_customer, q, expected):
    """`%` and `_` in q match themselves, not any text or any character."""
    for key, name in [("pct", "a%b"), ("axb", "axb"), ("und", "a_c"), ("ayc", "ayc")]:
        make_customer(id=key, first_name=name)
    assert ids(listing(client, q=q)) == expected


@pytest.mark.parametrize("q", ["álv", "ÁLV", "Álvaro"])
def test_list_q_ignores_case_beyond_ascii(client, make_customer, q):
    """The case-insensitive prefix also holds for accented names (Álvaro is found by álv)."""
    make_customer(id="alvaro", first_name="Álvaro")
    make_customer(id="other", first_name="Alberto")
    assert ids(listing(client, q=q)) == ["alvaro"]


@pytest.mark.parametrize(
    "params",
    [
        {"q": "a\x00"},
        {"client_member_id": "M\x00"},
        {"email": "a\x00@example.com"},
        {"account_id": 2147483648},
        {"account_id": 9223372036854775808},
    ],
)
def test_list_filter_beyond_what_is_stored_is_refused(client, people, params):
    """A filter value no customer can hold is a 400 naming it, never a 500."""
    problem(client.get(URL, params=params), 400, next(iter(params)))


def test_list_limit_and_default_page_size(client, make_customer):
    """limit caps a page; without it a page holds 20."""
    for i in range(21):
        make_customer(id=f"c{i:02}")
    one = client.get(URL, params={"limit": 1}).json()
    assert ids(one["items"]) == ["c00"]
    assert one["next_cursor"]
    default = client.get(URL).json()
    assert len(default["items"]) == 20
    assert default["next_cursor"]
    everything = client.get(URL, params={"limit": 100}).json()
    assert len(everything["items"]) == 21
    assert everything["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"sort": "points"}, "sort"),
        ({"sort": "-email"}, "sort"),
        ({"account_id": 0}, "account_id"),
        ({"account_id": "one"}, "account_id"),
        ({"phone_number": "abc"}, "phone_number"),
        ({"bogus": "1"}, "bogus"),
        ({"offset": "20"}, "offset"),
    ],
)
def test_list_with_bad_parameter_is_400_naming_it(client, people, params, field):
    """An out-of-range, malformed or unknown query parameter is a 400 problem naming it."""
    problem(client.get(URL, params=params), 400, field)


# --- list: keyset pages ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["cat", "dan", "bob", "eve", "ann"]),
        ("-created_at", ["ann", "eve", "bob", "dan", "cat"]),
        ("email", ["ann", "bob", "cat", "eve", "dan"]),
        ("last_name", ["bob", "cat", "ann", "dan", "eve"]),
    ],
)
@pytest.mark.parametrize("limit", [1, 2])
def test_pages_give_every_customer_once_in_order(client, people, sort, expected, limit):
    """Following next_cursor gives every customer exactly once, in order; the last page says null."""
    pages = walk(client, limit, sort=sort)
    assert [i for page in pages for i in page] == expected
    assert all(len(page) == limit for page in pages[:-1])
    assert len(pages) == -(-len(expected) // limit)


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["cat", "dan", "bob", "eve", "ann", "new1", "new2"]),
        ("-created_at", ["ann", "eve", "bob", "dan", "cat"]),
        ("email", ["ann", "bob", "cat", "eve", "new2", "dan"]),
        ("last_name", ["bob", "cat", "ann", "dan", "new2", "eve"]),
    ],
)
def test_pages_stay_stable_when_customers_arrive(client, people, make_customer, sort, expected):
    """Customers created after the first page neither repeat nor hide earlier ones; those past the cursor show."""
    first = client.get(URL, params={"limit": 2, "sort": sort}).json()
    make_customer(id="new1", email="aaa@example.com", last_name="Aaron")
    make_customer(id="new2", email="zed@example.com", last_name="Zane")
    seen, cursor = ids(first["items"]), first["next_cursor"]
    for _ in range(MAX_PAGES):
        if cursor is None:
            break
        body = client.get(URL, params={"limit": 2, "sort": sort, "cursor": cursor}).json()
        seen += ids(body["items"])
        cursor = body["next_cursor"]
    assert cursor is None
    assert seen == expected


NAIVE = "2026-01-01T00:00:00"
AWARE = "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("sort", "cursor"),
    [
        pytest.param("created_at", "garbage!", id="not-base64"),
        pytest.param("created_at", "bm90IGpzb24", id="not-json"),
        pytest.param("created_at", base64.urlsafe_b64encode(b'{"a": 1}').decode(), id="object"),
        pytest.param("created_at", cursor_of("created_at"), id="too-short"),
        pytest.param("created_at", cursor_of("created_at", AWARE, 1, 2), id="too-long"),
        pytest.param("created_at", cursor_of("created_at", "yesterday", 1), id="bad-time"),
        pytest.param("created_at", cursor_of("created_at", 5, 1), id="number-time"),
        pytest.param("created_at", cursor_of("created_at", AWARE, "1"), id="string-key"),
        pytest.param("email", cursor_of("email", ["a"], 1), id="list-email"),
        pytest.param("email", cursor_of("created_at", AWARE, 1), id="other-sort"),
        pytest.param(
            "created_at",
            cursor_of("created_at", NAIVE, 1),
            id="naive-time",
        ),
        pytest.param(
            "created_at",
            cursor_of("created_at", AWARE, 2**70),
            id="huge-key",
        ),
    ],
)
def test_garbage_cursor_is_400_naming_cursor(client, people, sort, cursor):
    """A cursor the collection did not hand out is a 400 problem naming `cursor`."""
    problem(client.get(URL, params={"sort": sort, "cursor": cursor}), 400, "cursor")


@pytest.mark.parametrize(("made_for", "used_with"), [("created_at", "-created_at"), ("email", "last_name")])
def test_cursor_of_another_sort_is_400(client, people, made_for, used_with):
    """A real cursor handed out for one sort is refused under another."""
    cursor = client.get(URL, params={"limit": 1, "sort": made_for}).json()["next_cursor"]
    problem(client.get(URL, params={"sort": used_with, "cursor": cursor}), 400, "cursor")


# --- PUT and PATCH --------------------------------------------------------------------------------


def test_put_replaces_every_field(client, yank):
    """PUT stores exactly the given fields; every absent one becomes null; id and created_at stay."""
    response = client.put(f"{URL}/yank", json={"email": "New@Example.com", "first_name": " New "})
    assert response.status_code == 200, response.text
    expected = dict.fromkeys(YANK_STORED, None) | {"id": "yank", "email": "new@example.com", "first_name": "New"}
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert body["created_at"] == yank["created_at"]
    assert client.get(f"{URL}/yank").json() == body


def test_patch_changes_given_fields_and_clears_nulls(client, yank):
    """PATCH changes the given fields, clears those given as null, and keeps the absent ones."""
    response = client.patch(
        f"{URL}/yank", json={"first_name": "Y", "country": None, "phone_number": "+44 20 7946 0958"}
    )
    assert response.status_code == 200, response.text
    expected = YANK_STORED | {"first_name": "Y", "country": None, "phone_number": "+442079460958"}
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert client.get(f"{URL}/yank").json() == body


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("put", {"first_name": "Yank", "account_id": 12}),
        ("put", {"email": None}),
        ("patch", {"email": None, "phone_number": None, "client_member_id": None, "document": None}),
    ],
)
def test_change_leaving_no_contact_is_400(client, yank, method, body):
    """A PUT or PATCH that would leave no email, phone, member id or document is 400 on `body`; nothing changes."""
    before = client.get(f"{URL}/yank").json()
    problem(getattr(client, method)(f"{URL}/yank", json=body), 400, "body")
    assert client.get(f"{URL}/yank").json() == before


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "bad"}, "email"),
        ({"id": "other"}, "id"),
        ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
        ({"phone_number": "12"}, "phone_number"),
        ({"document": "111.111.111-11"}, "document"),
        ({"account_id": 0}, "account_id"),
        ({"language": "zz"}, "language"),
        ([], "body"),
    ],
)
def test_change_with_bad_input_is_400_and_changes_nothing(client, yank, method, body, field):
    """Invalid fields in a PUT or PATCH are a 400 problem naming them, and the customer stays as it was."""
    before = client.get(f"{URL}/yank")
    problem(getattr(client, method)(f"{URL}/yank", json=body), 400, field)
    after = client.get(f"{URL}/yank")
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "other@example.com"}), ("patch", {"first_name": "Other"}), ("patch", {"account_id": None})],
)
def test_change_moves_updated_at_and_etag(client, yank, method, body):
    """A change moves updated_at strictly later and gives a new ETag; created_at stays."""
    response = getattr(client, method)(f"{URL}/yank", json=body)
    assert response.status_code == 200, response.text
    changed = response.json()
    assert when(changed["updated_at"]) > when(yank["updated_at"])
    assert changed["updated_at"].endswith("Z")
    assert changed["created_at"] == yank["created_at"]
    assert response.headers["etag"] != yank["etag"]
    assert client.get(f"{URL}/yank").headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize(
    ("method", "body"),
    [("patch", {}), ("patch", {"email": "YANK.DEBOO@example.com", "first_name": "Yank "}), ("put", YANK)],
)
def test_change_to_the_same_values_keeps_updated_at_and_etag(client, yank, method, body):
    """A PUT or PATCH that changes nothing keeps updated_at and the ETag."""
    body = {k: v for k, v in body.items() if k != "id"}
    response = getattr(client, method)(f"{URL}/yank", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["updated_at"] == yank["updated_at"]
    assert response.headers["etag"] == yank["etag"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "YANK.deboo@example.com"}, "email"),
        ({"document": "52998224725"}, "document"),
        ({"phone_number": "+1 (323) 555-1234", "account_id": 12}, "phone_number"),
        ({"client_member_id": "9436555", "account_id": 12}, "client_member_id"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_change_to_a_duplicate_is_409_and_changes_nothing(client, yank, make_customer, method, body, field):
    """A PUT or PATCH taking another customer's unique value is a 409 naming the field; both stay as they were."""
    other = make_customer(id="other", email="other@example.com", account_id=12)
    before = listing(client)
    put_body = {"email": other["email"], "account_id": 12} if method == "put" else {}
    response = getattr(client, method)(f"{URL}/other", json=put_body | body)
    assert problem(response, 409)["errors"][0]["field"] == field
    assert listing(client) == before


# --- If-Match -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "body"), [("put", {"email": "new@example.com"}), ("patch", {"first_name": "New"})])
def test_if_match_current_or_star_applies(client, yank, method, body):
    """A change with the current ETag, then one with `*`, both apply."""
    first = getattr(client, method)(f"{URL}/yank", json=body, headers={"If-Match": yank["etag"]})
    assert first.status_code == 200, first.text
    second = client.patch(f"{URL}/yank", json={"last_name": "Star"}, headers={"If-Match": "*"})
    assert second.status_code == 200, second.text
    assert client.get(f"{URL}/yank").json()["last_name"] == "Star"


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "new@example.com"}), ("patch", {"first_name": "New"}), ("delete", None)],
)
def test_stale_if_match_is_412_and_changes_nothing(client, yank, method, body):
    """A PUT, PATCH or DELETE with an ETag of an older version is a 412 and leaves the customer as it is."""
    stale = yank["etag"]
    current = client.patch(f"{URL}/yank", json={"first_name": "Moved"})
    kwargs = {"headers": {"If-Match": stale}} | ({"json": body} if body is not None else {})
    problem(getattr(client, method)(f"{URL}/yank", **kwargs), 412)
    after = client.get(f"{URL}/yank")
    assert after.json() == current.json()
    assert after.headers["etag"] == current.headers["etag"]


def test_delete_with_current_if_match(client, yank):
    """DELETE with the current ETag erases the customer."""
    assert client.delete(f"{URL}/yank", headers={"If-Match": yank["etag"]}).status_code == 204
    problem(client.get(f"{URL}/yank"), 404)


# --- DELETE and references by email ---------------------------------------------------------------


def test_delete_erases_and_frees_the_email(client, yank):
    """DELETE answers 204 with no body; then GET and DELETE are 404 and the email can be used again."""
    response = client.delete(f"{URL}/yank")
    assert response.status_code == 204
    assert response.content == b""
    problem(client.get(f"{URL}/yank"), 404)
    problem(client.delete(f"{URL}/yank"), 404)
    again = client.post(URL, json={"email": "yank.deboo@example.com"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != "yank"


def test_delete_answer_is_not_labelled_a_problem(client, yank):
    """A successful DELETE answers an empty 204 that is not labelled as a problem document."""
    response = client.delete(f"{URL}/yank")
    assert response.status_code == 204
    assert response.content == b""
    assert "problem" not in response.headers.get("content-type", "")


@pytest.mark.parametrize("ref", ["yank.deboo@example.com", "YANK.Deboo@Example.COM"])
def test_put_patch_delete_by_email(client, yank, ref):
    """The path may name the customer by email (any case) for PUT, PATCH and DELETE."""
    assert client.patch(f"{URL}/{ref}", json={"first_name": "P"}).json()["first_name"] == "P"
    put = client.put(f"{URL}/{ref}", json={"email": "yank.deboo@example.com", "last_name": "Q"})
    assert (put.json()["id"], put.json()["first_name"], put.json()["last_name"]) == ("yank", None, "Q")
    assert client.delete(f"{URL}/{ref}").status_code == 204
    assert listing(client) == []


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"email": "a@example.com"}), ("patch", {"first_name": "A"}), ("delete", None)],
)
@pytest.mark.parametrize("ref", ["nobody", "nobody@example.com"])
def test_change_of_unknown_customer_is_404(client, yank, method, body, ref):
    """PUT, PATCH and DELETE of an unknown customer are a 404 problem and create nothing."""
    kwargs = {"json": body} if body is not None else {}
    problem(getattr(client, method)(f"{URL}/{ref}", **kwargs), 404)
    assert ids(listing(client)) == ["yank"]
