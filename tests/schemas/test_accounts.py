"""The account input schemas load a body into the values their services take: addresses as they are stored,
names trimmed, new passwords within the policy (all but "not the email" where only the service knows the account)."""

import pytest

from schemas.accounts import (
    EmailChangeInput,
    LoginInput,
    NewApiKeyInput,
    NewUserInput,
    PasswordChangeInput,
    ResetConfirmInput,
    ResetRequestInput,
    SignupInput,
    VerifyInput,
)
from schemas.common import load_input
from services.errors import FieldError, InvalidInput

PASSWORD = "correct horse battery staple"


@pytest.mark.parametrize(
    ("schema", "body", "loaded"),
    [
        pytest.param(
            SignupInput,
            {"email": "Ana@Example.COM", "password": PASSWORD, "first_name": "  Ana ", "last_name": None},
            {"email": "ana@example.com", "password": PASSWORD, "first_name": "Ana", "last_name": None},
            id="signup",
        ),
        pytest.param(
            SignupInput,
            {"email": "JOSÉ@Exämple.com", "password": PASSWORD},
            {"email": "josé@exämple.com", "password": PASSWORD},
            id="signup-unicode-without-names",
        ),
        pytest.param(
            LoginInput,
            {"email": " ANA@Example.com\t", "password": " any text "},
            {"email": "ana@example.com", "password": " any text "},
            id="login-key-of-an-address-with-spaces",
        ),
        pytest.param(
            LoginInput, {"email": "Not An Address", "password": "x"}, {"email": "not an address", "password": "x"}
        ),
        pytest.param(ResetRequestInput, {"email": "ANA@Example.com"}, {"email": "ana@example.com"}, id="reset"),
        pytest.param(ResetRequestInput, {"email": " ana@example.com"}, {"email": None}, id="reset-not-valid"),
        pytest.param(ResetRequestInput, {"email": "nope"}, {"email": None}, id="reset-no-address"),
        pytest.param(
            ResetConfirmInput,
            {"token": "t0k3n", "password": " " + PASSWORD},
            {"token": "t0k3n", "password": " " + PASSWORD},
            id="reset-confirm-password-as-sent",
        ),
        pytest.param(
            ResetConfirmInput,
            {"token": "t0k3n", "password": "ana@example.com"},
            {"token": "t0k3n", "password": "ana@example.com"},
            id="reset-confirm-email-rule-left-to-the-service",
        ),
        pytest.param(VerifyInput, {"token": "t0k3n"}, {"token": "t0k3n"}, id="verify"),
        pytest.param(VerifyInput, {"token": "t0k3n", "password": PASSWORD}, {"token": "t0k3n", "password": PASSWORD}),
        pytest.param(
            PasswordChangeInput,
            {"current_password": "password", "new_password": PASSWORD},
            {"current_password": "password", "new_password": PASSWORD},
            id="password-change-current-as-sent",
        ),
        pytest.param(EmailChangeInput, {"email": "Ana.Lima@EXAMPLE.com"}, {"email": "ana.lima@example.com"}),
        pytest.param(
            NewUserInput,
            {"email": "Bob@Example.com", "password": PASSWORD, "role": "admin"},
            {"email": "bob@example.com", "password": PASSWORD, "role": "admin"},
            id="new-user",
        ),
        pytest.param(NewApiKeyInput, {"name": "  ERP sales feed "}, {"name": "ERP sales feed"}, id="api-key"),
    ],
)
def test_load_gives_the_values_as_the_services_take_them(schema, body, loaded):
    assert load_input(schema(), body) == loaded


def refusal(schema, body) -> list[FieldError]:
    with pytest.raises(InvalidInput) as refused:
        load_input(schema(), body)
    return refused.value.errors


@pytest.mark.parametrize(
    ("schema", "body", "errors"),
    [
        pytest.param(
            SignupInput,
            {"email": "ana@example", "password": "password123", "last_name": " "},
            [
                FieldError("email", "The part after the @-sign is not valid. It should have a period."),
                FieldError("password", "is too common; choose one that is not on lists of leaked passwords"),
                FieldError("last_name", "must not be blank"),
            ],
            id="signup-every-field",
        ),
        pytest.param(
            SignupInput,
            {"email": "ANA@example.com", "password": " ana@example.com "},
            [FieldError("password", "must not be the email address")],
            id="signup-not-the-email",
        ),
        pytest.param(
            NewUserInput,
            {"email": "bob@example.com", "password": "Bob@Example.com", "role": "customer"},
            [
                FieldError("role", "must be one of admin, staff"),
                FieldError("password", "must not be the email address"),
            ],
            id="new-user",
        ),
        pytest.param(
            PasswordChangeInput,
            {"current_password": "x", "new_password": "short"},
            [FieldError("new_password", "must be at least 8 characters")],
            id="password-change",
        ),
        pytest.param(
            VerifyInput,
            {"token": "t", "password": "x" * 129},
            [FieldError("password", "must be at most 128 characters")],
            id="verify",
        ),
        pytest.param(
            EmailChangeInput,
            {"email": "ana@example.com "},
            [FieldError("email", "The part after the @-sign contains invalid characters: SPACE.")],
            id="email-change",
        ),
        pytest.param(NewApiKeyInput, {"name": "\t"}, [FieldError("name", "must not be blank")], id="api-key"),
    ],
)
def test_load_names_every_refused_field_with_the_message_of_its_rule(schema, body, errors):
    assert refusal(schema, body) == errors


@pytest.mark.parametrize(
    "schema", [SignupInput, LoginInput, ResetRequestInput, ResetConfirmInput, PasswordChangeInput, NewUserInput]
)
def test_unknown_fields_are_refused(schema):
    assert "extra" in [error.field for error in refusal(schema, {"extra": 1})]
