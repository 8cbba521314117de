"""Every collection pages through one keyset pager: each row once and in order, also while rows arrive between
pages; any cursor the collection did not hand out (forged, edited, truncated, foreign) is a 400 on `cursor`."""

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from services.pagination import NOT_A_CURSOR, TAG_SIZE, seal, signing_key_for
from tests.conftest import TEST_SECRET_KEY

KEY = signing_key_for(TEST_SECRET_KEY)
MAX_PAGES = 40
SOLD_AT = "2025-06-01 10:00:00"


def cpf(n: int) -> str:
    """A valid CPF (with its two check digits) made from n."""
    digits = [int(d) for d in f"{n:09d}"]
    for size in (10, 11):
        remainder = sum(d * w for d, w in zip(digits, range(size, 1, -1), strict=True)) * 10 % 11
        digits.append(remainder % 10)
    return "".join(map(str, digits))


class World:
    """Rows made through the API for the collections under test, and the order they were made in."""

    def __init__(self, client, make_customer, make_user):
        self.client, self.make_customer, self.make_user = client, make_customer, make_user
        self.rank: dict = {}  # id -> creation order, for the collections whose order follows it
        self.arrivals = 0

    def arrival(self) -> int:
        """A new number for each row made between pages."""
        self.arrivals += 1
        return self.arrivals

    def made(self, ident) -> None:
        self.rank[ident] = len(self.rank)

    def customer(self, ident: str, email: str | None, last_name: str | None, points: int = 0) -> None:
        contact = {"email": email} if email else {"client_member_id": f"m-{ident}"}
        self.make_customer(id=ident, last_name=last_name, **contact)
        self.made(ident)
        if points:
            self.order(ident, points, ranked=False)

    def order(self, customer: str, total: int = 10, *, ranked: bool = True) -> None:
        response = self.client.post(f"/api/customers/{customer}/orders", json={"total": f"{total}.00"})
        assert response.status_code == 201, response.text
        if ranked:
            self.made(response.json()["order"]["id"])

    def sale(self, n: int, document: str | None = None, name: str = "Bruna Leite") -> None:
        body = {
            "sold_at": SOLD_AT,
            "customer": {"document": document or cpf(100_000 + n), "name": name},
            "total": "10.00",
            "products": [{"type": "A", "value": "10.00", "qty": 1}],
        }
        response = self.client.post("/api/cashback", json=body)
        assert response.status_code == 201, response.text
        self.made(response.json()["id"])

    def user(self) -> None:
        self.made(self.make_user("staff").id)


def seed_customers(world: World) -> None:
    """Ties, NULLs and equal points in every sort."""
    for ident, email, last_name, points in [
        ("c0", "dd@example.com", "Baum", 0),
        ("c1", None, "Abel", 10),
        ("c2", "aa@example.com", None, 10),
        ("c3", "cc@example.com", "Baum", 0),
        ("c4", None, None, 5),
        ("c5", "bb@example.com", "Cole", 10),
    ]:
        world.customer(ident, email, last_name, points)


def add_customer(world: World) -> None:
    n = world.arrival()
    if n % 2:
        world.customer(f"n{n}", None, None)
    else:
        world.customer(f"n{n}", f"b{n}@example.com", "Baum", 10)


def seed_orders(world: World) -> None:
    world.customer("ana", "ana@example.com", "Lima")
    world.customer("bia", "bia@example.com", "Reis")
    for n in range(6):
        world.order("ana" if n % 3 else "bia", 10 + n)


def seed_sales(world: World) -> None:
    world.customer("bruna", None, None)
    world.client.patch("/api/customers/bruna", json={"first_name": "Bruna", "last_name": "Leite", "document": cpf(7)})
    for n in range(6):
        world.sale(n, cpf(7) if n % 2 else None)


def seed_users(world: World) -> None:
    for _ in range(5):
        world.user()


def by_rank(item: dict, world: World) -> tuple:
    return (world.rank.get(item["id"], -1),)


@dataclass(frozen=True)
class Collection:
    name: str
    ordering: str  # the name its cursors carry
    url: str
    seed: Callable[[World], None]
    add: Callable[[World], None]  # one row more, made between two pages
    sort_key: Callable[[dict, World], tuple]  # the documented order, from what the representation shows
    descending: bool = False
    values: tuple = ("key",)  # what the cursor holds after the collection's name
    params: dict = field(default_factory=dict)


COLLECTIONS = [
    Collection(
        "customers:created_at",
        "customers:created_at",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (c["created_at"], *by_rank(c, w)),
        values=("time", "key"),
        params={"sort": "created_at"},
    ),
    Collection(
        "customers:-created_at",
        "customers:-created_at",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (c["created_at"], *by_rank(c, w)),
        descending=True,
        values=("time", "key"),
        params={"sort": "-created_at"},
    ),
    Collection(
        "customers:email",
        "customers:email",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (c["email"] is None, c["email"] or "", *by_rank(c, w)),
        values=("text", "key"),
        params={"sort": "email"},
    ),
    Collection(
        "customers:last_name",
        "customers:last_name",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (c["last_name"] is None, c["last_name"] or "", *by_rank(c, w)),
        values=("text", "key"),
        params={"sort": "last_name"},
    ),
    Collection(
        "customers:-points",
        "customers:-points",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (-c["rewards"]["points"], -by_rank(c, w)[0]),
        values=("integer", "key"),
        params={"sort": "-points"},
    ),
    Collection(
        "customers:filtered",
        "customers:last_name",
        "/api/customers",
        seed_customers,
        add_customer,
        lambda c, w: (c["last_name"] is None, c["last_name"] or "", *by_rank(c, w)),
        values=("text", "key"),
        params={"sort": "last_name", "q": "b"},  # last name Baum or email b...: c0, c3, c5 and some arrivals
    ),
    Collection(
        "activity",
        "activity",
        "/api/activity",
        seed_customers,
        add_customer,
        lambda e, w: (e["at"], e["id"]),
        descending=True,
        values=("time", "key"),
    ),
    Collection("users", "users", "/api/users", seed_users, World.user, by_rank),
    Collection("orders", "orders", "/api/orders", seed_orders, lambda w: w.order("bia"), by_rank, descending=True),
    Collection(
        "customer-orders",
        "orders",
        "/api/customers/ana/orders",
        seed_orders,
        lambda w: w.order("ana"),
        by_rank,
        descending=True,
    ),
    Collection(
        "ledger",
        "ledger",
        "/api/customers/ana/ledger",
        seed_orders,
        lambda w: w.order("ana"),
        lambda e, w: (e["id"],),
        descending=True,
    ),
    Collection(
        "cashback", "sales", "/api/cashback", seed_sales, lambda w: w.sale(w.arrival()), by_rank, descending=True
    ),
    Collection(
        "cashback:unassigned",
        "sales",
        "/api/cashback",
        seed_sales,
        lambda w: w.sale(w.arrival(), cpf(7) if w.arrivals % 2 else None),
        by_rank,
        descending=True,
        params={"assigned": "false"},
    ),
]
ORDERINGS = {c.ordering: c.values for c in COLLECTIONS}


@pytest.fixture
def world(client, make_customer, make_user) -> World:
    return World(client, make_customer, make_user)


def get(client, collection: Collection, **params):
    return client.get(collection.url, params={**collection.params, **params})


def listing(client, collection: Collection) -> list[dict]:
    response = get(client, collection, limit=100)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return response.json()["items"]


def item_id(item: dict):
    return item["id"]


def walk(client, collection: Collection, limit: int, between: Callable[[int], None] | None = None) -> list:
    """The ids of every page, following next_cursor (calling `between` after each page)."""
    seen, cursor = [], None
    for n in range(MAX_PAGES):
        response = get(client, collection, limit=limit, **({"cursor": cursor} if cursor else {}))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) == limit or body["next_cursor"] is None
        seen += map(item_id, body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen
        if between is not None:
            between(n)
    pytest.fail(f"next_cursor still set after {MAX_PAGES} pages")


def is_subsequence(part: list, whole: list) -> bool:
    rest = iter(whole)
    return all(item in rest for item in part)


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_listing_is_in_the_documented_order(client, world, collection):
    """The whole collection, in one page, is sorted as documented (ties on the internal key)."""
    collection.seed(world)
    items = listing(client, collection)
    assert len(items) >= 3
    assert items == sorted(items, key=lambda i: collection.sort_key(i, world), reverse=collection.descending)


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_pages_give_every_row_once_in_order(client, world, collection):
    """Following next_cursor with limit 1, 2 and 3 gives the one-page listing, row for row."""
    collection.seed(world)
    expected = [item_id(i) for i in listing(client, collection)]
    for limit in (1, 2, 3):
        assert walk(client, collection, limit) == expected, f"limit={limit}"


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_pages_stay_stable_while_rows_arrive(client, world, collection):
    """Rows made between pages neither repeat nor hide the others; what is seen keeps the collection's order."""
    collection.seed(world)
    before = [item_id(i) for i in listing(client, collection)]
    for limit in (1, 2, 3):
        # Three arrivals: one after each of the first pages (more would never let an ascending walk end).
        seen = walk(client, collection, limit, lambda n: n < 3 and collection.add(world))
        after = [item_id(i) for i in listing(client, collection)]
        assert len(seen) == len(set(seen)), f"limit={limit}: a row came twice"
        assert [i for i in seen if i in before] == before, f"limit={limit}: rows went missing"
        assert is_subsequence(seen, after), f"limit={limit}: out of order"
        before = after


def unsigned(payload) -> str:
    """A cursor as the service made them before they were signed."""
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def signed(payload) -> str:
    return seal(json.dumps(payload).encode(), KEY)


def flipped(cursor: str, index: int) -> str:
    """The cursor with one bit of its decoded byte at `index` changed."""
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[index] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


WRONG = {
    "key": [2**64 + 1, -(2**64 + 1), 2**63, 2**31, -1, 0, 1.5, True, False, None, "7", [1], {"pk": 1}],
    "integer": [2**64 + 1, -(2**64 + 1), 2**31, -(2**31) - 1, 1.5, True, None, "7", [1]],
    "time": [None, 5, True, "yesterday", "2026-01-01T00:00:00", "0001-01-01T00:00:00+01:00", "9999-12-31T23:00-01:00"],
    "text": [5, 1.5, True, ["a"], {"a": 1}, "a\x00b"],
}


def forgeries(collection: Collection, real: str) -> dict[str, str]:
    """Cursors this collection never handed out, made from a real one: each is a 400 on `cursor`."""
    name, *values = json.loads(base64.urlsafe_b64decode(real + "=" * (-len(real) % 4))[:-TAG_SIZE])
    assert name == collection.ordering
    found = {
        "unsigned-true": unsigned([name, *values[:-1], True]),
        "unsigned-copy": unsigned([name, *values]),
        "truncated-by-one": real[:-1],
        "truncated-by-half": real[: len(real) // 2],
        "payload-byte-changed": flipped(real, 2),
        "tag-byte-changed": flipped(real, -1),
        "other-key": seal(json.dumps([name, *values]).encode(), signing_key_for("another secret key")),
        "too-short": signed([name, *values[:-1]]),
        "too-long": signed([name, *values, 1]),
        "other-name": signed(["customers:nonsense", *values]),
        "no-name": signed(values),
        "object": signed({"name": name, "values": values}),
        "number": signed(5),
    }
    for other, kinds in ORDERINGS.items():
        if kinds == collection.values and other != name:  # values that fit, under another name
            found[f"name-of-{other}"] = signed([other, *values])
    for position, kind in enumerate(collection.values):
        if kind in ("key", "integer"):  # what gave a 500 (OverflowError) before cursors were signed
            found[f"unsigned-overflow-{position}"] = unsigned(
                [name, *values[:position], 2**64 + 1, *values[position + 1 :]]
            )
        for n, wrong in enumerate(WRONG[kind]):
            found[f"{kind}-{n}:{wrong!r}"] = signed([name, *values[:position], wrong, *values[position + 1 :]])
    for garbage in ("zzz", "true", "null", "1", "!!!!", "_-_-", "x" * 512):
        found[f"garbage:{garbage[:8]}"] = garbage
    return found


def refusal(response) -> str | None:
    """What is wrong with the answer to a bad cursor (None when it is the 400 on `cursor`)."""
    if response.status_code != 400:
        return f"{response.status_code}: {response.text[:200]}"
    errors = response.json().get("errors") or [{}]
    if errors[0].get("field") != "cursor":
        return f"400 on {errors[0].get('field')}"
    if errors[0]["message"] != NOT_A_CURSOR:
        return f"400 with message {errors[0]['message']!r}"
    return None


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.name)
def test_forged_or_edited_cursors_are_400_on_cursor(client, world, collection):
    """Overflowing, negative, fractional, boolean, null, mistyped, foreign, truncated or edited: 400, never 500."""
    collection.seed(world)
    real = get(client, collection, limit=1).json()["next_cursor"]
    assert get(client, collection, limit=1, cursor=real).status_code == 200
    wrong = {
        label: refusal(get(client, collection, cursor=cursor)) for label, cursor in forgeries(collection, real).items()
    }
    assert {label: why for label, why in wrong.items() if why} == {}


def test_a_cursor_of_another_collection_or_sort_is_400(client, world):
    """A real cursor is refused by every collection with another ordering, also where the values would fit."""
    for seed in (seed_customers, seed_orders, seed_sales, seed_users):
        seed(world)
    wrong = {}
    for made_by in COLLECTIONS:
        cursor = get(client, made_by, limit=1).json()["next_cursor"]
        for used in COLLECTIONS:
            if used.ordering != made_by.ordering:  # the same ordering over other filters may go on from it
                why = refusal(get(client, used, cursor=cursor))
                if why:
                    wrong[f"{made_by.name} -> {used.name}"] = why
    assert wrong == {}
