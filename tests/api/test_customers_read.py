"""Reading customers over HTTP: look-up by id or email, listing with sorts and filters, keyset pages."""

import base64
import json

import pytest

from services.pagination import seal, signing_key_for
from tests.api.conftest import URL, ids, listing, problem
from tests.conftest import TEST_SECRET_KEY

MAX_PAGES = 20


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
