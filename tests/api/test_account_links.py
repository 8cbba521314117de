"""A record is reached only through a proven link: signup, claims, CPFs, email changes, admins, abuse limits."""

import threading

import pytest
from limits import parse_many
from sqlalchemy import select

from models import Customer, User, db
from services import users
from services.context import Principal
from services.errors import Conflict
from tests.conftest import SIGNUP_PASSWORD, TEST_PASSWORD, link_token, sign_in

CHOSEN = "the owner's own passphrase"
SALE = {
    "sold_at": "2026-11-20 20:12:22",
    "customer": {"document": "529.982.247-25", "name": "Bruna Leite"},
    "total": "100.00",
    "products": [{"type": "A", "value": "100.00", "qty": 1}],
}


@pytest.fixture
def victor(client):
    """A customer staff recorded, with a CPF, a phone and an order: what a hijacker would want."""
    record = {"id": "victor", "email": "v@example.com", "document": "52998224725", "phone_number": "+13235551234"}
    assert client.post("/api/customers", json=record).status_code == 201
    order = client.post("/api/customers/victor/orders", json={"total": "250.00"})
    assert order.status_code == 201, order.text
    return order.json()["order"]


@pytest.fixture
def hijacker(anon_client, victor, mailbox):
    """Someone who signed up first with Victor's address and a password of their own; their sign-in header."""
    response = anon_client.post("/api/auth/signup", json={"email": "v@example.com", "password": SIGNUP_PASSWORD})
    assert response.status_code == 202
    assert set(response.json()) == {"detail"}
    return sign_in(anon_client, "v@example.com")


CUSTOMER_PATHS = [
    ("GET", "/api/customers/victor"),
    ("GET", "/api/customers/v@example.com"),
    ("PATCH", "/api/customers/victor"),
    ("GET", "/api/customers/victor/orders"),
    ("GET", "/api/customers/victor/ledger"),
    ("GET", "/api/customers/victor/rewards"),
    ("POST", "/api/customers/victor/statement"),
]


def test_signup_with_an_address_on_record_reaches_nothing_before_the_link(anon_client, victor, hijacker):
    """The account signs in but is linked to nothing: /me shows no customer and every customer path is 404."""
    me = anon_client.get("/api/auth/me", headers=hijacker).json()
    assert me["customer"] is None
    for method, path in CUSTOMER_PATHS:
        body = {"first_name": "Mallory"} if method == "PATCH" else None
        response = anon_client.request(method, path, headers=hijacker, json=body)
        assert response.status_code == 404, (method, path, response.text)
    assert anon_client.get(f"/api/orders/{victor['id']}", headers=hijacker).status_code == 404


def test_the_claim_link_asks_for_the_password_and_ends_every_session(anon_client, client, hijacker, mailbox):
    """Only the mailbox's owner links the record: the link sets their password and signs everyone else out."""
    token = link_token(mailbox.wait_for("v@example.com", "Confirm"), "verify")
    missing = anon_client.post("/api/auth/verify", json={"token": token})
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "password"
    assert anon_client.post("/api/auth/verify", json={"token": token, "password": CHOSEN}).status_code == 204
    assert anon_client.get("/api/auth/me", headers=hijacker).status_code == 401
    refused = anon_client.post("/api/auth/login", json={"email": "v@example.com", "password": SIGNUP_PASSWORD})
    assert refused.status_code == 401
    owner = sign_in(anon_client, "v@example.com", CHOSEN)
    me = anon_client.get("/api/auth/me", headers=owner).json()
    assert me["customer"]["id"] == "victor"
    assert me["email_verified"] is True
    assert anon_client.get("/api/customers/victor/rewards", headers=owner).json()["points"] == 250
    linked = client.get("/api/activity", params={"action": "auth.customer_linked"}).json()["items"]
    assert len(linked) == 1


def test_the_claim_page_shows_password_fields_and_links_the_record(anon_client, hijacker, mailbox):
    """Opening the mailed link in a browser asks for the password twice, then links the record."""
    token = link_token(mailbox.wait_for("v@example.com", "Confirm"), "verify")
    page = anon_client.get("/verify", params={"token": token})
    assert 'name="password"' in page.text and 'name="confirmation"' in page.text
    differ = anon_client.post("/verify", data={"token": token, "password": CHOSEN, "confirmation": "other"})
    assert differ.status_code == 400
    done = anon_client.post("/verify", data={"token": token, "password": CHOSEN, "confirmation": CHOSEN})
    assert done.status_code == 200, done.text
    owner = sign_in(anon_client, "v@example.com", CHOSEN)
    assert anon_client.get("/api/auth/me", headers=owner).json()["customer"]["id"] == "victor"


def test_a_reset_link_also_proves_the_mailbox_and_links_the_record(anon_client, hijacker, mailbox):
    """The owner who asks for a reset instead of following the claim link gets the same result."""
    anon_client.post("/api/auth/reset", json={"email": "v@example.com"})
    token = link_token(mailbox.wait_for("v@example.com", "Reset"), "reset")
    assert anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": CHOSEN}).status_code == 204
    assert anon_client.get("/api/auth/me", headers=hijacker).status_code == 401
    owner = sign_in(anon_client, "v@example.com", CHOSEN)
    assert anon_client.get("/api/auth/me", headers=owner).json()["customer"]["id"] == "victor"


def test_a_customer_may_not_set_their_own_cpf(client, client_as):
    """A customer sending another CPF for their own record gets 403 naming `document`; staff may set it."""
    me = client_as("customer")
    record_id = me.get("/api/auth/me").json()["customer"]["id"]
    patched = me.patch(f"/api/customers/{record_id}", json={"document": "529.982.247-25"})
    assert patched.status_code == 403
    assert patched.json()["errors"] == [{"field": "document", "message": "may only be changed by staff"}]
    assert client.patch(f"/api/customers/{record_id}", json={"document": "529.982.247-25"}).status_code == 200


@pytest.mark.parametrize(
    ("field", "value"),
    [("document", "52998224725"), ("email", "other@example.com"), ("account_id", 7), ("client_member_id", "M-1")],
)
def test_a_customer_changes_only_their_contact_details(client_as, field, value):
    """Identity and membership fields are staff's: PATCH and PUT of another value are 403 naming the field."""
    me = client_as("customer")
    record = me.get("/api/auth/me").json()["customer"]
    path = f"/api/customers/{record['id']}"
    for method, body in (("PATCH", {field: value}), ("PUT", {"email": record["email"], field: value})):
        response = me.request(method, path, json=body)
        assert response.status_code == 403, (method, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert me.get(path).json()[field] == record[field]


def test_a_customer_put_keeps_the_fields_staff_set(client, client_as):
    """Echoing the record back with new names works; a PUT without the staff fields does not clear them."""
    me = client_as("customer")
    record = me.get("/api/auth/me").json()["customer"]
    path = f"/api/customers/{record['id']}"
    assert client.patch(path, json={"document": "52998224725", "account_id": 3}).status_code == 200
    writable = ("email", "first_name", "last_name", "phone_number", "client_member_id", "account_id", "document")
    stored = me.get(path).json()
    echoed = me.put(path, json={**{k: stored[k] for k in writable}, "first_name": "Ana"})
    assert echoed.status_code == 200, echoed.text
    names_only = me.put(path, json={"first_name": "Ana", "last_name": "Lima"})
    assert names_only.status_code == 200, names_only.text
    assert names_only.json()["document"] == "52998224725"
    assert names_only.json()["account_id"] == 3


@pytest.mark.parametrize("name", [None, {"first_name": "Mallory", "last_name": "Souza"}])
def test_a_cpf_without_the_sale_s_name_receives_nothing_by_itself(erp, client, name):
    """A kept sale attaches by itself only when CPF and name both match; a nameless customer gets nothing."""
    kept = erp.post("/api/cashback", json=SALE).json()
    record = {"id": "cpf-holder", "email": "holder@example.com", "document": "52998224725", **(name or {})}
    assert client.post("/api/customers", json=record).status_code == 201
    assert client.get("/api/customers/cpf-holder/rewards").json()["points"] == 0
    assert client.get(f"/api/cashback/{kept['id']}").json()["customer_id"] is None
    waiting = client.get("/api/cashback", params={"assigned": "false"}).json()["items"]
    assert [sale["id"] for sale in waiting] == [kept["id"]]


def test_a_new_sale_for_a_nameless_customer_is_kept_for_staff(erp, client):
    """The ERP's sale for a CPF whose customer has no name on record waits unattached."""
    assert client.post("/api/customers", json={"id": "nameless", "document": "52998224725"}).status_code == 201
    sale = erp.post("/api/cashback", json=SALE)
    assert sale.status_code == 201
    assert sale.json()["customer_id"] is None
    assert client.get("/api/customers/nameless/rewards").json()["points"] == 0


def test_staff_attach_a_kept_sale_by_hand_once(erp, client, client_as):
    """POST /assign makes the sale the customer's order, is in the trail, and a second attach is 409."""
    kept = erp.post("/api/cashback", json=SALE).json()
    assert client.post("/api/customers", json={"id": "walk-in", "email": "walk-in@example.com"}).status_code == 201
    assert client_as("customer").post(f"/api/cashback/{kept['id']}/assign", json={"customer": "x"}).status_code == 403
    unknown = client.post(f"/api/cashback/{kept['id']}/assign", json={"customer": "nobody"})
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["field"] == "customer"
    attached = client.post(f"/api/cashback/{kept['id']}/assign", json={"customer": "walk-in@example.com"})
    assert attached.status_code == 200, attached.text
    assert attached.json()["customer_id"] == "walk-in"
    assert attached.json()["order_id"] is not None
    assert client.get("/api/customers/walk-in/rewards").json()["points"] == 100
    again = client.post(f"/api/cashback/{kept['id']}/assign", json={"customer": "walk-in"})
    assert again.status_code == 409
    assert again.json()["errors"] == [{"field": "sale_id", "message": "is already attached"}]
    assert client.get("/api/cashback", params={"assigned": "false"}).json()["items"] == []
    assert [s["id"] for s in client.get("/api/cashback", params={"assigned": "true"}).json()["items"]] == [kept["id"]]
    trail = client.get("/api/activity", params={"action": "sale.assigned"}).json()["items"]
    assert trail[0]["actor"].startswith("user:")


def test_the_email_changes_only_through_a_link_mailed_to_the_new_address(anon_client, client, mailbox):
    """POST /auth/email answers 202 for a free or a taken address; only the free one gets a link."""
    anon_client.post(
        "/api/auth/signup", json={"email": "ana@example.com", "password": SIGNUP_PASSWORD, "first_name": "Ana"}
    )
    assert client.post("/api/customers", json={"email": "taken@example.com"}).status_code == 201
    ana = sign_in(anon_client, "ana@example.com")
    record_id = anon_client.get("/api/auth/me", headers=ana).json()["customer"]["id"]
    patched = anon_client.patch(f"/api/customers/{record_id}", headers=ana, json={"email": "taken@example.com"})
    assert patched.status_code == 403
    taken = anon_client.post("/api/auth/email", headers=ana, json={"email": "Taken@example.com"})
    free = anon_client.post("/api/auth/email", headers=ana, json={"email": "ana.lima@example.com"})
    assert taken.status_code == free.status_code == 202
    assert taken.json() == free.json()
    token = link_token(mailbox.wait_for("ana.lima@example.com", "new email"), "verify")
    assert mailbox.to("taken@example.com") == []
    assert anon_client.post("/api/auth/email/confirm", json={"token": token}).status_code == 204
    mailbox.wait_for("ana@example.com", "changed")
    me = anon_client.get("/api/auth/me", headers=sign_in(anon_client, "ana.lima@example.com")).json()
    assert me["email"] == me["customer"]["email"] == "ana.lima@example.com"
    refused = anon_client.post("/api/auth/login", json={"email": "ana@example.com", "password": SIGNUP_PASSWORD})
    assert refused.status_code == 401


def test_an_address_taken_before_the_confirmation_is_409(anon_client, client, mailbox):
    """If someone else gets the address between the mail and the click, the link answers 409, never 500."""
    anon_client.post("/api/auth/signup", json={"email": "ana@example.com", "password": SIGNUP_PASSWORD})
    ana = sign_in(anon_client, "ana@example.com")
    anon_client.post("/api/auth/email", headers=ana, json={"email": "new@example.com"})
    token = link_token(mailbox.wait_for("new@example.com", "new email"), "verify")
    assert client.post("/api/customers", json={"email": "new@example.com"}).status_code == 201
    response = anon_client.post("/api/auth/email/confirm", json={"token": token})
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "email"


def test_signup_for_an_address_whose_record_has_an_account_is_no_500(anon_client, client, mailbox):
    """Staff moving a linked record to an address does not break a later signup with that address."""
    anon_client.post("/api/auth/signup", json={"email": "ana@example.com", "password": SIGNUP_PASSWORD})
    ana = sign_in(anon_client, "ana@example.com")
    record_id = anon_client.get("/api/auth/me", headers=ana).json()["customer"]["id"]
    assert client.patch(f"/api/customers/{record_id}", json={"email": "blocked@example.com"}).status_code == 200
    response = anon_client.post("/api/auth/signup", json={"email": "blocked@example.com", "password": SIGNUP_PASSWORD})
    assert response.status_code == 202
    mailbox.wait_for("blocked@example.com", "tried to sign up")


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.mark.parametrize(("change", "field"), [({"role": "staff"}, "role"), ({"active": False}, "active")])
def test_the_last_active_admin_cannot_go(client, app, change, field):
    """Demoting or deactivating the only active admin (oneself) is 409 naming the field; with two it works."""
    with app.app.app_context():
        only = db.session.scalars(select(User.id).where(User.role == "admin")).one()
    refused = client.patch(f"/api/users/{only}", json=change)
    assert refused.status_code == 409
    assert refused.json()["errors"] == [{"field": field, "message": "would leave no active admin"}]
    second = client.post(
        "/api/users", json={"email": "second@example.com", "password": SIGNUP_PASSWORD, "role": "admin"}
    )
    assert client.patch(f"/api/users/{second.json()['id']}", json=change).status_code == 200
    assert client.patch(f"/api/users/{second.json()['id']}", json={"role": "admin", "active": True}).status_code == 200
    assert client.patch(f"/api/users/{only}", json=change).status_code == 200


def test_two_admins_demoting_each_other_at_once_leave_one(app, make_user):
    """The database decides: of two simultaneous demotions, exactly one succeeds."""
    first, second = make_user("admin"), make_user("admin")
    start = threading.Barrier(2)
    outcomes = []

    def demote(user_id: str):
        with app.app.app_context():
            start.wait()
            try:
                users.change_user(user_id, role="staff")
                outcomes.append("demoted")
            except Conflict:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=demote, args=(u.id,)) for u in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["demoted", "refused"]
    with app.app.app_context():
        assert db.session.scalar(select(db.func.count()).where(User.role == "admin", User.active)) == 1


def test_an_account_with_no_linked_customer_reads_no_erased_customer_s_orders(app, client, make_user, bearer_for):
    """Orders of an erased customer have no customer; an unlinked account is not their owner either."""
    client.post("/api/customers", json={"id": "gone", "email": "gone@example.com"})
    order = client.post("/api/customers/gone/orders", json={"total": "10.00"}).json()["order"]
    assert client.delete("/api/customers/gone").status_code == 204
    unlinked = app.test_client()
    unlinked.headers.update(bearer_for(make_user("customer")))
    assert unlinked.get(f"/api/orders/{order['id']}").status_code == 404


def test_an_absent_link_never_matches():
    """The ownership rule itself: None on either side is not a match."""
    unlinked = Principal(kind="user", id="u", pk=1, role="customer", customer_pk=None)
    assert not unlinked.may_see(None)
    assert not unlinked.may_see(5)
    assert Principal(kind="user", id="u", pk=1, role="customer", customer_pk=5).may_see(5)
    assert Principal(kind="user", id="s", pk=2, role="staff").may_see(None)


SPELLINGS = [" " * n + "ana@example.com" + " " * (n % 2) for n in range(12)]


def _first_limit(app, setting: str) -> int:
    return parse_many(getattr(app.app.extensions["settings"], setting.lower()))[0].amount


@pytest.mark.parametrize(
    ("path", "setting", "body"),
    [
        ("/api/auth/login", "RATE_LIMIT_LOGIN", {"password": "not the right passphrase"}),
        ("/api/auth/signup", "RATE_LIMIT_SIGNUP", {"password": SIGNUP_PASSWORD}),
        ("/api/auth/reset", "RATE_LIMIT_RESET", {}),
    ],
)
def test_account_limits_count_the_address_however_it_is_spelled(app, make_user, path, setting, body):
    """Spaces or case around the address do not open a fresh bucket, even from many client addresses."""
    make_user("customer", email="ana@example.com")
    allowed = _first_limit(app, setting)
    for n in range(allowed):
        peer = app.test_client(client=(f"198.51.100.{n + 1}", 40000))
        assert peer.post(path, json={"email": SPELLINGS[n], **body}).status_code != 429, n
    last = app.test_client(client=("198.51.100.200", 40000))
    assert last.post(path, json={"email": SPELLINGS[allowed], **body}).status_code == 429


def test_login_past_the_limit_is_refused_even_with_the_right_password(app, make_user):
    """The right password in another spelling does not sign in past the per-account limit."""
    make_user("customer", email="ana@example.com")
    for n in range(_first_limit(app, "RATE_LIMIT_LOGIN")):
        peer = app.test_client(client=(f"198.51.100.{n + 1}", 40000))
        peer.post("/api/auth/login", json={"email": SPELLINGS[n], "password": "not the right passphrase"})
    last = app.test_client(client=("198.51.100.200", 40000))
    right = last.post("/api/auth/login", json={"email": " ANA@example.com ", "password": TEST_PASSWORD})
    assert right.status_code == 429
    assert int(right.headers["Retry-After"]) >= 1


def test_wrong_current_passwords_are_limited_per_account(app, make_user, bearer_for):
    """RATE_LIMIT_PASSWORD (5 per 15 minutes) stops guessing the current password, from any address."""
    user = make_user("customer")
    header = bearer_for(user)
    wrong = {"current_password": "a guess that is wrong", "new_password": "a brand new passphrase"}
    allowed = _first_limit(app, "RATE_LIMIT_PASSWORD")
    assert allowed == 5
    for n in range(allowed):
        peer = app.test_client(client=(f"198.51.100.{n + 1}", 40000))
        assert peer.post("/api/auth/password", headers=header, json=wrong).status_code == 400
    last = app.test_client(client=("198.51.100.200", 40000))
    right = {"current_password": TEST_PASSWORD, "new_password": "a brand new passphrase"}
    assert last.post("/api/auth/password", headers=header, json=right).status_code == 429


def test_email_change_requests_are_limited_per_account(app, make_user, bearer_for):
    """RATE_LIMIT_EMAIL bounds how many confirm links one account can have mailed."""
    header = bearer_for(make_user("customer"))
    allowed = _first_limit(app, "RATE_LIMIT_EMAIL")
    for n in range(allowed):
        peer = app.test_client(client=(f"198.51.100.{n + 1}", 40000))
        assert peer.post("/api/auth/email", headers=header, json={"email": f"n{n}@example.com"}).status_code == 202
    last = app.test_client(client=("198.51.100.200", 40000))
    assert last.post("/api/auth/email", headers=header, json={"email": "last@example.com"}).status_code == 429


def test_signup_keeps_the_record_staff_made_untouched(app, anon_client, victor, hijacker):
    """The pending account changed nothing on the record (no link, same email, same CPF)."""
    with app.app.app_context():
        record = db.session.scalars(select(Customer).where(Customer.id == "victor")).one()
        account = db.session.scalars(select(User).where(User.email == "v@example.com")).one()
        assert account.customer_pk is None
        assert record.document == "52998224725"
