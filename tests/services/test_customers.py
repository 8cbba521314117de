"""The customer service layer on the real database: writes, look-ups, listing, and the races it must win."""

import threading
from decimal import Decimal

import pytest

from models import db
from services import customers
from services.customers import CustomerFilters
from services.errors import Conflict, InvalidInput, NotFound, PreconditionFailed

THREADS = 8
NO_BONUS = Decimal("0.00")


def _list(filters=None, sort="created_at", limit=100, cursor=None):
    return customers.list_customers(
        filters or CustomerFilters(), sort=sort, limit=limit, cursor=cursor, phone_region="US"
    )


def _create(values: dict) -> dict:
    return customers.create_customer(values, signup_bonus=NO_BONUS)


def _ids(page) -> list[str]:
    return [item["id"] for item in page.items]


def _assert_stored_as(ref: str, record: dict) -> None:
    """The customer is stored exactly as in record (extra internal columns aside)."""
    stored = customers.get_customer(ref)
    assert {key: stored[key] for key in record} == record


def _race(app, work) -> list:
    """Run work(i) in THREADS threads released together, each in its own app context; return results or errors."""
    barrier = threading.Barrier(THREADS)
    outcomes: list = [None] * THREADS

    def run(i):
        with app.app.app_context():
            barrier.wait()
            try:
                outcomes[i] = work(i)
            except Exception as exc:  # noqa: BLE001 - every outcome is inspected by the test
                outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.fixture
def yank(app_context):
    """A stored customer with most fields set."""
    return _create(
        {
            "id": "yank",
            "email": "yank@example.com",
            "first_name": "Yank",
            "last_name": "Deboo",
            "phone_number": "+13235551234",
            "client_member_id": "9436555",
            "account_id": 12,
            "document": "52998224725",
            "country": "US",
            "language": "en",
        }
    )


def test_create_generates_an_id_and_timestamps(app_context):
    """A customer created without an id gets a URL-safe one and equal created/updated times."""
    record = _create({"email": "a@example.com"})
    assert record["id"]
    assert len(record["id"]) <= 64
    assert record["created_at"] == record["updated_at"]
    assert record["created_at"].tzinfo is not None
    assert customers.get_customer(record["id"])["email"] == "a@example.com"


def test_create_without_contact_field_is_invalid(app_context):
    """A customer with none of email, phone, client member id or document is refused on `body`."""
    with pytest.raises(InvalidInput) as caught:
        _create({"first_name": "Nobody", "country": "US"})
    assert [e.field for e in caught.value.errors] == ["body"]
    assert _list().items == []


@pytest.mark.parametrize(
    ("second", "field"),
    [
        ({"email": "yank@example.com"}, "email"),
        ({"email": "b@example.com", "document": "52998224725"}, "document"),
        ({"email": "b@example.com", "id": "yank"}, "id"),
        ({"email": "b@example.com", "phone_number": "+13235551234", "account_id": 12}, "phone_number"),
        ({"email": "b@example.com", "client_member_id": "9436555", "account_id": 12}, "client_member_id"),
    ],
)
def test_create_duplicate_is_a_conflict_naming_the_field(yank, second, field):
    """A second customer holding a unique value of the first is a Conflict on that field, and is not stored."""
    with pytest.raises(Conflict) as caught:
        _create(second)
    assert caught.value.field == field
    assert _ids(_list()) == ["yank"]


def test_same_phone_in_other_account_is_allowed(yank):
    """Phone number and client member id are unique only within one account."""
    other = _create({"phone_number": "+13235551234", "client_member_id": "9436555", "account_id": 13})
    assert _ids(_list()) == ["yank", other["id"]]


def test_get_by_id_and_email(yank):
    """A customer is found by id and by email in any case."""
    assert customers.get_customer("yank")["email"] == "yank@example.com"
    assert customers.get_customer("YANK@Example.com")["id"] == "yank"


@pytest.mark.parametrize("ref", ["nobody", "nobody@example.com"])
def test_get_unknown_is_not_found(app_context, ref):
    """An unknown id or email is NotFound."""
    with pytest.raises(NotFound):
        customers.get_customer(ref)


def test_patch_changes_only_given_fields(yank):
    """A partial update changes what is given, clears what is None, keeps the rest, and moves updated_at."""
    record = customers.update_customer("yank", {"first_name": "Y", "country": None}, replace=False, if_match=None)
    assert (record["first_name"], record["country"], record["last_name"]) == ("Y", None, "Deboo")
    assert record["updated_at"] > yank["updated_at"]
    assert record["created_at"] == yank["created_at"]
    assert customers.get_customer("yank")["first_name"] == "Y"


def test_replace_clears_absent_fields(yank):
    """A replacing update leaves every field it was not given empty."""
    record = customers.update_customer("yank", {"client_member_id": "1"}, replace=True, if_match=None)
    stored = customers.get_customer("yank")
    assert stored["client_member_id"] == "1"
    assert [stored[f] for f in ("email", "first_name", "phone_number", "account_id", "document")] == [None] * 5
    assert record["version"] == stored["version"]


def test_update_leaving_no_contact_is_invalid(yank):
    """Clearing every contact field is refused on `body` and changes nothing."""
    cleared = {"email": None, "phone_number": None, "client_member_id": None, "document": None}
    with pytest.raises(InvalidInput) as caught:
        customers.update_customer("yank", cleared, replace=False, if_match=None)
    assert caught.value.errors[0].field == "body"
    _assert_stored_as("yank", yank)


def test_update_to_duplicate_is_a_conflict(yank):
    """Taking another customer's email is a Conflict on email and leaves both unchanged."""
    other = _create({"email": "other@example.com"})
    with pytest.raises(Conflict) as caught:
        customers.update_customer(other["id"], {"email": "yank@example.com"}, replace=False, if_match=None)
    assert caught.value.field == "email"
    _assert_stored_as(other["id"], other)


def test_update_unknown_is_not_found(app_context):
    """Updating or deleting an unknown customer is NotFound."""
    with pytest.raises(NotFound):
        customers.update_customer("nobody", {"first_name": "X"}, replace=False, if_match=None)
    with pytest.raises(NotFound):
        customers.delete_customer("nobody@example.com", if_match=None)


def test_unchanged_update_keeps_the_version(yank):
    """An update that changes nothing keeps updated_at and the version tag."""
    record = customers.update_customer("yank", {"first_name": "Yank"}, replace=False, if_match=None)
    assert customers.version_tag(record) == customers.version_tag(yank)
    assert customers.get_customer("yank")["updated_at"] == yank["updated_at"]


def test_two_writers_with_the_same_version(yank):
    """The second writer holding an ETag the first one made stale is refused; only the first change is kept."""
    tag = customers.version_tag(customers.get_customer("yank"))
    customers.update_customer("yank", {"first_name": "First"}, replace=False, if_match=frozenset({tag}))
    with pytest.raises(PreconditionFailed):
        customers.update_customer("yank", {"last_name": "Second"}, replace=False, if_match=frozenset({tag}))
    stored = customers.get_customer("yank")
    assert (stored["first_name"], stored["last_name"]) == ("First", "Deboo")


def test_if_match_star_and_lists(yank):
    """No tags (If-Match `*` or none) always match, and a set matches when it holds the current tag."""
    tag = customers.version_tag(yank)
    record = customers.update_customer("yank", {"first_name": "A"}, replace=False, if_match=None)
    tags = frozenset({tag, customers.version_tag(record)})
    record = customers.update_customer("yank", {"first_name": "B"}, replace=False, if_match=tags)
    assert record["first_name"] == "B"


def test_delete_with_stale_tag_keeps_the_customer(yank):
    """Deleting with a stale tag is PreconditionFailed; with the current one the customer is gone."""
    stale = customers.version_tag(yank)
    changed = customers.update_customer("yank", {"first_name": "Z"}, replace=False, if_match=None)
    current = customers.version_tag(changed)
    with pytest.raises(PreconditionFailed):
        customers.delete_customer("yank", if_match=frozenset({stale}))
    assert customers.get_customer("yank")["first_name"] == "Z"
    customers.delete_customer("yank@example.com", if_match=frozenset({current}))
    with pytest.raises(NotFound):
        customers.get_customer("yank")


def test_updated_at_strictly_increases(yank):
    """Rapid successive updates each move updated_at strictly forward and give a new tag."""
    records = [yank]
    for i in range(10):
        records.append(customers.update_customer("yank", {"first_name": f"N{i}"}, replace=False, if_match=None))
    times = [r["updated_at"] for r in records]
    assert all(a < b for a, b in zip(times, times[1:], strict=False))
    assert len({customers.version_tag(r) for r in records}) == len(records)


def test_list_filters(app_context):
    """Filters match normalised values and combine with AND."""
    ann = _create({"email": "ann@example.com", "first_name": "Ann", "phone_number": "+13235551234", "account_id": 1})
    bob = _create({"email": "bob@example.com", "last_name": "Annan", "account_id": 2})
    _create({"document": "11144477735", "client_member_id": "M1", "account_id": 1})
    assert _ids(_list(CustomerFilters(phone_number="(323) 555-1234"))) == [ann["id"]]
    assert _ids(_list(CustomerFilters(email="ANN@example.com"))) == [ann["id"]]
    assert _ids(_list(CustomerFilters(q="ann"))) == [ann["id"], bob["id"]]
    assert _ids(_list(CustomerFilters(q="ann", account_id=2))) == [bob["id"]]
    assert len(_list(CustomerFilters(document="111.444.777-35", client_member_id="M1")).items) == 1
    assert _list(CustomerFilters(document="111.444.777-35", account_id=2)).items == []


def test_list_bad_phone_filter_is_invalid(app_context):
    """A phone filter that is not a possible number is InvalidInput on phone_number."""
    with pytest.raises(InvalidInput) as caught:
        _list(CustomerFilters(phone_number="abc"))
    assert caught.value.errors[0].field == "phone_number"


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("created_at", ["c0", "c1", "c2", "c3"]),
        ("-created_at", ["c3", "c2", "c1", "c0"]),
        ("email", ["c2", "c3", "c0", "c1"]),
        ("last_name", ["c1", "c3", "c0", "c2"]),
    ],
)
def test_list_pages_cover_everything_once(app_context, sort, expected):
    """Following next_cursor two at a time gives every customer once, in sort order, empty values last."""
    for i, (email, last) in enumerate([("c@x.com", "Cole"), (None, "Abel"), ("a@x.com", None), ("b@x.com", "Baum")]):
        _create({"id": f"c{i}", "email": email, "last_name": last, "client_member_id": str(i)})
    first = _list(sort=sort, limit=2)
    second = _list(sort=sort, limit=2, cursor=first.next_cursor)
    assert _ids(first) + _ids(second) == expected
    assert second.next_cursor is None
    assert _ids(_list(sort=sort)) == expected


def test_cursor_of_another_sort_is_invalid(app_context):
    """A cursor made for one sort is InvalidInput on cursor under another."""
    for i in range(3):
        _create({"client_member_id": str(i)})
    cursor = _list(limit=1).next_cursor
    with pytest.raises(InvalidInput) as caught:
        _list(sort="email", cursor=cursor)
    assert caught.value.errors[0].field == "cursor"


def test_concurrent_creates_with_one_email(app):
    """Eight simultaneous creates with one email: exactly one stored, seven Conflicts on email."""
    outcomes = _race(app, lambda i: _create({"email": "race@example.com", "first_name": f"T{i}"}))
    assert sum(isinstance(o, dict) for o in outcomes) == 1, outcomes
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == THREADS - 1, outcomes
    assert {c.field for c in conflicts} == {"email"}
    with app.app.app_context():
        assert len(_list().items) == 1


def test_concurrent_creates_with_one_phone_in_an_account(app):
    """Eight simultaneous creates with one phone in one account: one stored, seven Conflicts on phone_number."""
    outcomes = _race(
        app,
        lambda i: _create({"email": f"p{i}@example.com", "phone_number": "+13235551234", "account_id": 7}),
    )
    assert sum(isinstance(o, dict) for o in outcomes) == 1, outcomes
    conflicts = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(conflicts) == THREADS - 1, outcomes
    assert {c.field for c in conflicts} == {"phone_number"}
    with app.app.app_context():
        assert len(_list(CustomerFilters(account_id=7)).items) == 1


def test_concurrent_updates_with_one_etag(app, yank):
    """Eight simultaneous updates holding the same ETag: exactly one applies, seven are PreconditionFailed."""
    tag = customers.version_tag(yank)
    db.session.remove()
    outcomes = _race(
        app,
        lambda i: customers.update_customer("yank", {"first_name": f"T{i}"}, replace=False, if_match=frozenset({tag})),
    )
    winners = [o for o in outcomes if isinstance(o, dict)]
    assert len(winners) == 1, outcomes
    assert sum(isinstance(o, PreconditionFailed) for o in outcomes) == THREADS - 1, outcomes
    stored = customers.get_customer("yank")
    assert stored["first_name"] == winners[0]["first_name"]
    assert stored["version"] == yank["version"] + 1
