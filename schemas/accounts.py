"""Account input (sign-up, sign-in, passwords, addresses, users, API keys) and the caller's own account (GET /auth/me).

Each input schema loads a request body into the values its service takes: addresses normalised by the rules of
services.customer_rules, new passwords checked by the policy of services.passwords, names trimmed by the customer
name rule. Load them with schemas.common.load_input, which turns every refusal into one 400 naming the fields.
"""

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from models import Customer, User
from schemas.common import Ruled
from schemas.customer import customer_representation
from services.customer_rules import email_key, normalise_email, normalise_name
from services.customers import record_of
from services.passwords import password_problem
from services.users import MANAGED_ROLES


def _acceptable_password(password: str) -> str:
    """The policy of services.passwords but for "not the email", which needs the account's address."""
    problem = password_problem(password, None)
    if problem:
        raise ValueError(problem)
    return password


def _address_or_none(text: str) -> str | None:
    """The address as stored, or None when it is not a valid one (no account can have it)."""
    try:
        return normalise_email(text)
    except ValueError:
        return None


class Email(Ruled):
    """An address that must be valid, loaded as it is stored (lower case, normalised)."""

    def __init__(self, **kwargs):
        super().__init__(normalise_email, required=True, **kwargs)


class NewPassword(Ruled):
    """A password being chosen: the policy, "not the email" aside (see PasswordIsNotTheEmail)."""

    def __init__(self, **kwargs):
        super().__init__(_acceptable_password, **kwargs)


class AccountInput(Schema):
    class Meta:
        unknown = RAISE


class PasswordIsNotTheEmail:
    """The policy's "not the email" rule, for the inputs that bring both (mixed into an AccountInput)."""

    @validates_schema(skip_on_field_errors=False)
    def _password_is_not_the_email(self, data, **kwargs):
        if "email" in data and "password" in data:  # both passed their own rules
            problem = password_problem(data["password"], data["email"])
            if problem:
                raise ValidationError(problem, "password")


class SignupInput(PasswordIsNotTheEmail, AccountInput):
    email = Email()
    password = NewPassword(required=True)
    first_name = Ruled(normalise_name, allow_none=True)
    last_name = Ruled(normalise_name, allow_none=True)


class LoginInput(AccountInput):
    # Any text signs in (a wrong one is the same 401 as a wrong password), looked up and limited by its key.
    email = Ruled(email_key, required=True)
    password = fields.String(required=True)  # never checked against the policy: refusals must look alike


class ResetRequestInput(AccountInput):
    # An address that is not valid answers 202 like any other and mails nothing: it loads as None.
    email = Ruled(_address_or_none, required=True)


class ResetConfirmInput(AccountInput):
    # "Not the email" is checked by services.accounts.confirm_reset: only the token tells whose account it is.
    token = fields.String(required=True)
    password = NewPassword(required=True)


class VerifyInput(AccountInput):
    # The password is for a claim link (services.accounts.verify_email says when it is needed and checks
    # "not the email" with the address of the token's account).
    token = fields.String(required=True)
    password = NewPassword()


class PasswordChangeInput(AccountInput):
    # "Not the email" is checked by services.accounts.change_password, which has the caller's address.
    current_password = fields.String(required=True)
    new_password = NewPassword(required=True)


class EmailChangeInput(AccountInput):
    email = Email()


class NewUserInput(PasswordIsNotTheEmail, AccountInput):
    email = Email()
    password = NewPassword(required=True)
    role = fields.String(required=True, validate=validate.OneOf(MANAGED_ROLES, error="must be one of {choices}"))


class NewApiKeyInput(AccountInput):
    name = Ruled(normalise_name, required=True)  # trimmed, 1..64 characters


def me_representation(user: User, customer: Customer | None) -> dict:
    """Who the caller is, with the customer record linked to the account (or null)."""
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "email_verified": user.email_verified,
        "customer": customer_representation(record_of(customer)) if customer else None,
    }
