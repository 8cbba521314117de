"""The keyset pager: signed cursors, their checks against the ordering, and pages over any ordering."""

import json
from datetime import UTC, datetime, timedelta
from functools import cmp_to_key

import pytest
from sqlalchemy import select, update

from models import Customer, Order, db
from services.errors import InvalidInput
from services.pagination import (
    NOT_A_CURSOR,
    TAG_SIZE,
    Ordering,
    cursor_signing_key,
    decode_cursor,
    encode_cursor,
    keyset_page,
    seal,
    signing_key_for,
    unseal,
)
from tests.conftest import TEST_SECRET_KEY

KEY = signing_key_for(TEST_SECRET_KEY)
COLUMNS = Customer.__table__.c
# One key of each kind: nullable text descending, time, 32-bit integer, and the unique key.
MIXED = Ordering(
    "mixed",
    [
        (COLUMNS.last_name, True, True),
        (COLUMNS.created_at, False, False),
        (COLUMNS.points, True, False),
        (COLUMNS.pk, False, False),
    ],
)
VALID = ["Baum", "2026-01-01T10:00:00+00:00", 0, 7]


def forged(*payload) -> str:
    return seal(json.dumps(list(payload)).encode(), KEY)


def refused(cursor: str, ordering: Ordering = MIXED) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        decode_cursor(cursor, ordering, KEY)
    return caught.value


# --- sealing -------------------------------------------------------------------------------------


def test_seal_round_trips_and_is_url_safe():
    """A sealed payload comes back unchanged, from a cursor of URL-safe characters only."""
    cursor = seal(b'["x",1]', KEY)
    assert unseal(cursor, KEY) == b'["x",1]'
    assert len(cursor) == -(-(7 + TAG_SIZE) * 4 // 3)  # unpadded base64 of payload and tag: nothing more
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(seal(b'["x",1]', signing_key_for("another key")), id="other-key"),
        pytest.param(seal(b'["x",1]', KEY)[:-2], id="truncated"),
        pytest.param(seal(b'["x",1]', KEY).replace("Wy", "Wz", 1), id="payload-edited"),
        pytest.param(seal(b"", KEY), id="tag-only"),
        pytest.param("", id="empty"),
        pytest.param("a", id="one-character"),
        pytest.param("abc$", id="not-base64url"),
        pytest.param("Ünïcode", id="not-ascii"),
    ],
)
def test_unseal_refuses_what_this_key_did_not_seal(cursor):
    """Another key, a truncated or edited cursor, no payload or no base64url at all: ValueError."""
    with pytest.raises(ValueError):
        unseal(cursor, KEY)


def test_the_cursor_key_is_derived_from_the_secret_key(app_context):
    """The app signs with a key of its own derived from SECRET_KEY, never with SECRET_KEY itself."""
    assert cursor_signing_key() == KEY
    assert KEY not in (TEST_SECRET_KEY.encode(), signing_key_for("another key"))
    assert len(KEY) == 32


# --- decoding against the ordering --------------------------------------------------------------


def test_a_cursor_round_trips_its_key_values():
    """encode_cursor then decode_cursor gives the values to compare with (times as aware UTC datetimes)."""
    values = decode_cursor(encode_cursor(MIXED, VALID, KEY), MIXED, KEY)
    assert values == ["Baum", datetime(2026, 1, 1, 10, tzinfo=UTC), 0, 7]
    assert decode_cursor(encode_cursor(MIXED, [None, *VALID[1:]], KEY), MIXED, KEY)[0] is None


def test_a_time_with_another_offset_is_read_as_utc():
    """A time with any offset names the same instant in UTC."""
    (_, moment, _, _) = decode_cursor(forged("mixed", "Baum", "2026-01-01T12:00:00+02:00", 0, 7), MIXED, KEY)
    assert moment == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("position", "value"),
    [
        *((0, v) for v in [5, 1.5, True, ["Baum"], {"a": 1}, "Ba\x00um"]),
        *((1, v) for v in [None, 5, "yesterday", "2026-01-01T10:00:00", "0001-01-01T00:00:00+01:00", [1]]),
        *((1, v) for v in ["9999-12-31T23:00:00-01:00"]),
        *((2, v) for v in [2**64 + 1, 2**31, -(2**31) - 1, 1.5, True, None, "0", [0]]),
        *((3, v) for v in [2**64 + 1, 2**63, 2**31, 0, -1, 1.5, True, False, None, "7", {"pk": 7}]),
    ],
)
def test_a_value_its_column_cannot_hold_is_refused(position, value):
    """Out of the column's range, of another type, NULL where the key never is, or unrepresentable: refused."""
    payload = [*VALID[:position], value, *VALID[position + 1 :]]
    error = refused(forged("mixed", *payload))
    assert [(e.field, e.message) for e in error.errors] == [("cursor", NOT_A_CURSOR)]


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(["other", *VALID], id="other-name"),
        pytest.param(VALID, id="no-name"),
        pytest.param(["mixed", *VALID[:-1]], id="too-short"),
        pytest.param(["mixed", *VALID, 1], id="too-long"),
        pytest.param({"mixed": VALID}, id="object"),
        pytest.param(None, id="null"),
        pytest.param(True, id="true"),
        pytest.param("mixed", id="string"),
    ],
)
def test_a_payload_of_another_shape_or_ordering_is_refused(payload):
    """Only [this ordering's name, one value per key] is a cursor of this ordering."""
    assert refused(forged(payload)).errors[0].message == NOT_A_CURSOR


@pytest.mark.parametrize("cursor", ["true", "null", "zzz", "eyJhIjoxfQ", forged("mixed", *VALID)[:-1]])
def test_anything_unsealed_is_refused(cursor):
    """Garbage, bare JSON and truncated cursors are the same refusal."""
    assert refused(cursor).errors[0].message == NOT_A_CURSOR


# --- describing an ordering ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "keys",
    [
        pytest.param([(COLUMNS.pk, False, False), (COLUMNS.created_at, False, False)], id="key-not-last"),
        pytest.param([(COLUMNS.created_at, False, False), (COLUMNS.points, False, False)], id="no-key"),
        pytest.param([(COLUMNS.pk, False, True)], id="nullable-key"),
    ],
)
def test_an_ordering_must_end_with_the_integer_key(keys):
    """Without the unique, never NULL key last, pages could skip or repeat tied rows."""
    with pytest.raises(ValueError, match="primary key"):
        Ordering("bad", keys)


def test_an_ordering_pages_either_entities_or_row_mappings():
    """ORM attributes and Core columns in one ordering would leave the rows' shape unknown."""
    with pytest.raises(ValueError, match="mixes"):
        Ordering("bad", [(Customer.created_at, False, False), (COLUMNS.pk, False, False)])


def test_a_column_holding_nulls_must_be_described_nullable():
    """NULLs need their own place in the order and in the cursor."""
    with pytest.raises(ValueError, match="nullable"):
        Ordering("bad", [(COLUMNS.email, False, False), (COLUMNS.pk, False, False)])


def test_a_column_without_a_cursor_check_cannot_order():
    """Only integers, times and text are checked: any other type is refused when the ordering is described."""
    with pytest.raises(TypeError):
        Ordering("bad", [(COLUMNS.cashback_balance, False, False), (COLUMNS.pk, False, False)])


# --- pages over the database ---------------------------------------------------------------------

NAMES = [None, "Abel", "Baum", "Baum", None, "Cole", "Abel", "Baum", None]
FIRST = ["Ana", None, "Bia", "Ana", None, "Ana", "Bia", None, "Caio"]
POINTS = [0, 5, 5, 10, 0, 10, 0, 5, 0]
ACCOUNTS = [None, 1, 2, 1, None, 2, 1, None, 3]

ORDERINGS = [
    [("last_name", False, True), ("pk", False, False)],
    [("last_name", True, True), ("pk", True, False)],
    [("last_name", True, True), ("first_name", False, True), ("points", True, False), ("pk", False, False)],
    [("points", False, False), ("email", True, True), ("pk", True, False)],
    [("account_id", True, True), ("created_at", True, False), ("pk", False, False)],
    [("created_at", False, False), ("pk", False, False)],
]


@pytest.fixture
def people(app_context) -> list[dict]:
    """Customers with ties and NULLs in every column an ordering above uses."""
    for n, (last, first, points, account) in enumerate(zip(NAMES, FIRST, POINTS, ACCOUNTS, strict=True)):
        email = f"p{n}@example.com" if n % 3 else None
        now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n % 4)  # equal times too
        db.session.add(
            Customer(
                id=f"p{n}", email=email, first_name=first, last_name=last, client_member_id=str(n), account_id=account
            )
        )
        db.session.flush()
        db.session.execute(update(Customer).where(Customer.id == f"p{n}").values(points=points, created_at=now))
    db.session.commit()
    return [dict(row) for row in db.session.execute(select(Customer.__table__).order_by(COLUMNS.pk)).mappings()]


def expected_order(rows: list[dict], keys) -> list[str]:
    """The ids in this ordering, computed in Python: NULLs last in either direction."""

    def compare(a, b):
        for name, descending, _ in keys:
            x, y = a[name], b[name]
            if x == y:
                continue
            if x is None or y is None:
                return 1 if x is None else -1
            return (1 if x > y else -1) * (-1 if descending else 1)
        return 0

    return [row["id"] for row in sorted(rows, key=cmp_to_key(compare))]


def walk(statement, ordering: Ordering, limit: int) -> list:
    """Every page's items, following next_cursor; each page but the last is full."""
    items, cursor = [], None
    while True:
        page = keyset_page(statement, ordering, limit=limit, cursor=cursor, signing_key=KEY)
        assert len(page.items) == limit or page.next_cursor is None
        items += page.items
        if page.next_cursor is None:
            return items
        cursor = page.next_cursor


@pytest.mark.parametrize("keys", ORDERINGS, ids=lambda keys: ",".join(("-" if d else "") + n for n, d, _ in keys))
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 9, 10])
def test_pages_of_row_mappings_follow_any_ordering(people, keys, limit):
    """Core columns page row mappings: every row once, in the order Python computes (ties on the key)."""
    ordering = Ordering("test", [(COLUMNS[name], descending, nullable) for name, descending, nullable in keys])
    items = walk(ordering.ordered(select(Customer.__table__)), ordering, limit)
    assert [row["id"] for row in items] == expected_order(people, keys)


@pytest.mark.parametrize("keys", ORDERINGS, ids=lambda keys: ",".join(("-" if d else "") + n for n, d, _ in keys))
@pytest.mark.parametrize("limit", [1, 3, 9])
def test_pages_of_entities_follow_any_ordering(people, keys, limit):
    """ORM attributes page ORM entities, in the same order."""
    ordering = Ordering(
        "test", [(getattr(Customer, name), descending, nullable) for name, descending, nullable in keys]
    )
    items = walk(ordering.ordered(select(Customer)), ordering, limit)
    assert all(isinstance(item, Customer) for item in items)
    assert [item.id for item in items] == expected_order(people, keys)


def test_filters_apply_across_pages(people):
    """Conditions on the ordered statement hold on every page."""
    ordering = Ordering("test", [(COLUMNS.last_name, False, True), (COLUMNS.pk, False, False)])
    statement = ordering.ordered(select(Customer.__table__)).where(COLUMNS.points > 0)
    items = walk(statement, ordering, 2)
    keys = [("last_name", False, True), ("pk", False, False)]
    assert [row["id"] for row in items] == expected_order([p for p in people if p["points"] > 0], keys)


def test_an_empty_or_exactly_full_collection_has_no_next_cursor(app_context):
    """No rows: an empty page. As many rows as the limit: one page and no cursor to an empty one."""
    ordering = Ordering("test", [(Order.pk, True, False)])
    statement = ordering.ordered(select(Order))
    assert keyset_page(statement, ordering, limit=3, cursor=None, signing_key=KEY).items == []
    ordering = Ordering("test", [(Customer.pk, False, False)])
    for n in range(3):
        db.session.add(Customer(id=f"x{n}", client_member_id=str(n)))
    db.session.commit()
    page = keyset_page(ordering.ordered(select(Customer)), ordering, limit=3, cursor=None, signing_key=KEY)
    assert (len(page.items), page.next_cursor) == (3, None)
