"""Account input over HTTP: every operation loads its body through schemas.accounts, so a bad value is a 400
naming the field with the message of its rule (services.customer_rules, services.passwords); sign-in and reset
requests take any address and answer alike."""

import pytest

from services.customer_rules import normalise_email, normalise_name
from tests.conftest import SIGNUP_PASSWORD, link_token, login, sign_in, signup

TOO_COMMON = "is too common; choose one that is not on lists of leaked passwords"
NOT_THE_EMAIL = "must not be the email address"

# Each refused by services.customer_rules.normalise_email, with its own message.
BAD_ADDRESSES = [
    pytest.param("nope", id="no-at-sign"),
    pytest.param(" ", id="a-space"),
    pytest.param("ana@example", id="no-period"),
    pytest.param(" ana@example.com", id="leading-space"),
    pytest.param("ana@example.com ", id="trailing-space"),
    pytest.param("ana..lima@example.com", id="two-periods"),
    pytest.param("ana\u200b@example.com", id="zero-width-space"),
    pytest.param("ana@exa mple.com", id="space-in-domain"),
]
# (password, message): the policy of services.passwords, "not the email" aside (tested on its own).
WEAK_PASSWORDS = [
    pytest.param("short1", "must be at least 8 characters", id="short"),
    pytest.param("x" * 129, "must be at most 128 characters", id="long"),
    pytest.param("password123", TOO_COMMON, id="common"),
    pytest.param("QwertyUIOP", TOO_COMMON, id="common-in-other-case"),
]
# (field, value): refused by services.customer_rules.normalise_name.
BAD_NAMES = [
    pytest.param("first_name", "", id="first-empty"),
    pytest.param("first_name", "   ", id="first-blank"),
    pytest.param("last_name", "\t", id="last-tab"),
    pytest.param("last_name", "Li\x07ma", id="last-control-character"),
]


def rule_message(rule, value: str) -> str:
    """What a rule says of a value it refuses."""
    with pytest.raises(ValueError) as refusal:
        rule(value)
    return str(refusal.value)


def refused(response, field: str, message: str) -> list[dict]:
    """Check a 400 problem+json naming `field` with `message`; return its errors."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = response.json()["errors"]
    assert {"field": field, "message": message} in errors, errors
    return errors


def activity(client, action: str) -> list[dict]:
    return client.get("/api/activity", params={"action": action}).json()["items"]


# --- sign-up ---


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_signup_refuses_an_address_that_is_not_valid(anon_client, address):
    refused(signup(anon_client, email=address), "email", rule_message(normalise_email, address))


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_signup_refuses_a_weak_password(anon_client, password, message):
    refused(signup(anon_client, password=password), "password", message)


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("ana@example.com", "ana@example.com"),
        ("Ana@Example.COM", "ana@example.com"),  # compared with the address as it is stored
        ("ana@example.com", "  ANA@example.com "),
    ],
)
def test_signup_refuses_the_address_as_password(anon_client, email, password):
    refused(signup(anon_client, email=email, password=password), "password", NOT_THE_EMAIL)


@pytest.mark.parametrize(("field", "value"), BAD_NAMES)
def test_signup_refuses_a_name_the_customer_rule_refuses(anon_client, field, value):
    refused(signup(anon_client, **{field: value}), field, rule_message(normalise_name, value))


def test_signup_names_every_bad_field_at_once(anon_client):
    response = signup(anon_client, email="nope", password="password123", first_name=" ")
    errors = refused(response, "email", rule_message(normalise_email, "nope"))
    assert {"field": "password", "message": TOO_COMMON} in errors
    assert {"field": "first_name", "message": "must not be blank"} in errors


def test_signup_stores_the_address_and_names_as_the_rules_give_them(anon_client, mailbox):
    """The account and its customer record get the address in lower case and the names trimmed."""
    response = signup(anon_client, email="Ana.Lima@Example.COM", first_name="  Ana ", last_name=" Lima")
    assert response.status_code == 202, response.text
    mailbox.wait_for("ana.lima@example.com", "Confirm")
    me = anon_client.get("/api/auth/me", headers=sign_in(anon_client, "ana.lima@example.com")).json()
    assert me["email"] == me["customer"]["email"] == "ana.lima@example.com"
    assert (me["customer"]["first_name"], me["customer"]["last_name"]) == ("Ana", "Lima")


# --- sign-in ---


@pytest.mark.parametrize("address", [" ana@example.com", "ANA@Example.com ", "\tAna@EXAMPLE.com"])
def test_login_looks_the_address_up_by_its_key(anon_client, ana_account, address):
    """Sign-in takes the address as sent, trimmed and in lower case (services.customer_rules.email_key)."""
    assert login(anon_client, address).status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("nope", SIGNUP_PASSWORD),
        ("ana@example", SIGNUP_PASSWORD),
        ("ana\u200b@example.com", SIGNUP_PASSWORD),
        ("ana@example.com", "password123"),
        ("ana@example.com", "short"),
        ("ana@example.com", "ana@example.com"),
    ],
)
def test_login_refusals_look_alike_whatever_the_input(anon_client, ana_account, email, password):
    """No address or password is a 400 at sign-in: a bad one is the same 401 as a wrong password."""
    wrong = login(anon_client, password="not the right passphrase")
    response = login(anon_client, email, password)
    assert response.status_code == wrong.status_code == 401
    assert response.json()["detail"] == wrong.json()["detail"]
    assert "errors" not in response.json()


# --- reset request and confirmation ---


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_reset_request_with_an_address_that_is_not_valid_answers_alike_and_mails_nothing(
    client, anon_client, ana_account, address
):
    """Even one that is a known address but for spaces around it: only a valid address is looked up."""
    known = anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    assert known.status_code == 202
    response = anon_client.post("/api/auth/reset", json={"email": address})
    assert response.status_code == 202
    assert response.json() == known.json()
    assert len(activity(client, "auth.reset_requested")) == 1


def test_reset_request_finds_the_account_whatever_the_case(client, anon_client, ana_account, mailbox):
    response = anon_client.post("/api/auth/reset", json={"email": "ANA@Example.COM"})
    assert response.status_code == 202
    mailbox.wait_for("ana@example.com", "Reset")
    assert len(activity(client, "auth.reset_requested")) == 1


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_reset_confirm_refuses_a_weak_password(anon_client, password, message):
    response = anon_client.post("/api/auth/reset/confirm", json={"token": "a-token", "password": password})
    refused(response, "password", message)


def test_reset_confirm_refuses_the_address_of_the_token_account(anon_client, ana_account, mailbox):
    """Only the token tells whose account it is: the service refuses its address, and the token stays usable."""
    anon_client.post("/api/auth/reset", json={"email": "ana@example.com"})
    token = link_token(mailbox.wait_for("ana@example.com", "Reset"), "reset")
    response = anon_client.post("/api/auth/reset/confirm", json={"token": token, "password": "Ana@Example.com"})
    refused(response, "password", NOT_THE_EMAIL)
    chosen = {"token": token, "password": "a brand new passphrase"}
    assert anon_client.post("/api/auth/reset/confirm", json=chosen).status_code == 204


# --- verify and claim links ---


@pytest.mark.parametrize(("password", "message"), WEAK_PASSWORDS)
def test_verify_refuses_a_weak_password(anon_client, password, message):
    response = anon_client.post("/api/auth/verify", json={"token": "a-token", "password": password})
    refused(response, "password", message)


def test_a_claim_link_refuses_the_address_of_its_account(anon_client, client, mailbox):
    assert client.post("/api/customers", json={"email": "v@example.com"}).status_code == 201
    assert signup(anon_client, email="V@Example.com").status_code == 202
    token = link_token(mailbox.wait_for("v@example.com", "Confirm"), "verify")
    response = anon_client.post("/api/auth/verify", json={"token": token, "password": "v@example.com"})
    refused(response, "password", NOT_THE_EMAIL)
    chosen = {"token": token, "password": "a brand new passphrase"}
    assert anon_client.post("/api/auth/verify", json=chosen).status_code == 204


# --- password and address changes ---


@pytest.fixture
def ana(anon_client, ana_account) -> dict:
    """Ana's Authorization header."""
    return sign_in(anon_client, "ana@example.com")


@pytest.mark.parametrize(("password", "message"), [*WEAK_PASSWORDS, ("  ANA@example.com", NOT_THE_EMAIL)])
def test_password_change_refuses_a_weak_new_password(anon_client, ana, password, message):
    body = {"current_password": SIGNUP_PASSWORD, "new_password": password}
    refused(anon_client.post("/api/auth/password", headers=ana, json=body), "new_password", message)
    assert login(anon_client).status_code == 200


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_email_change_refuses_an_address_that_is_not_valid(anon_client, ana, address):
    response = anon_client.post("/api/auth/email", headers=ana, json={"email": address})
    refused(response, "email", rule_message(normalise_email, address))


def test_email_change_mails_the_address_as_it_is_stored(anon_client, ana, mailbox):
    response = anon_client.post("/api/auth/email", headers=ana, json={"email": "Ana.Lima@EXAMPLE.com"})
    assert response.status_code == 202
    token = link_token(mailbox.wait_for("ana.lima@example.com", "new email"), "verify")
    assert anon_client.post("/api/auth/email/confirm", json={"token": token}).status_code == 204
    assert login(anon_client, "ana.lima@example.com").status_code == 200


# --- users and API keys (admins) ---


def new_user(client, **changes):
    body = {"email": "bob@example.com", "password": "a long staff passphrase", "role": "staff", **changes}
    return client.post("/api/users", json=body)


@pytest.mark.parametrize("address", BAD_ADDRESSES)
def test_new_user_refuses_an_address_that_is_not_valid(client, address):
    refused(new_user(client, email=address), "email", rule_message(normalise_email, address))


@pytest.mark.parametrize(("password", "message"), [*WEAK_PASSWORDS, (" Bob@Example.com", NOT_THE_EMAIL)])
def test_new_user_refuses_a_weak_password(client, password, message):
    refused(new_user(client, password=password), "password", message)


def test_new_user_refuses_a_role_it_does_not_manage(client):
    refused(new_user(client, role="customer"), "role", "must be one of 'admin', 'staff'")


@pytest.mark.parametrize(
    ("given", "stored"), [("Bob@Example.COM", "bob@example.com"), ("José@Exämple.COM", "josé@exämple.com")]
)
def test_new_user_has_the_address_as_it_is_stored(client, given, stored):
    response = new_user(client, email=given)
    assert response.status_code == 201, response.text
    assert response.json()["email"] == stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("   ", "must not be blank", id="blank"),
        pytest.param("ERP\x01feed", "must not contain control characters", id="control-character"),
        pytest.param("x" * 65, "must be at most 64 characters", id="long"),
    ],
)
def test_new_api_key_refuses_a_bad_name(client, name, message):
    refused(client.post("/api/api-keys", json={"name": name}), "name", message)
    assert client.get("/api/api-keys").json()["items"] == []


def test_new_api_key_name_is_trimmed(client):
    response = client.post("/api/api-keys", json={"name": "  ERP sales feed "})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ERP sales feed"
