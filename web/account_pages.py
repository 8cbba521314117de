"""The /verify (address, claim, email change) and /reset pages: forms that post back the mailed token."""

import logging

from flask import Blueprint, render_template, request

from api.problems import (
    DATABASE_ERRORS,
    DATABASE_UNAVAILABLE_DETAIL,
    RETRY_AFTER,
    database_cause,
    database_unavailable,
)
from services import accounts
from services.errors import Conflict, InvalidInput
from services.settings import current_settings

log = logging.getLogger(__name__)
pages = Blueprint("account_pages", __name__)


def _form_token() -> str:
    return (request.form.get("token") or "")[:256]


CONFIRMED = {
    "verify": ("Email confirmed", "Thank you: your email address is confirmed."),
    "claim": ("Account ready", "Your password is set and your customer record is linked: sign in with it."),
    "email": ("Email changed", "Your account signs in with this address from now on."),
}
LINK_SPENT = "This link is invalid, expired or already used."
ADDRESS_TAKEN = "This address belongs to another account."


@pages.get("/verify")
def verify_form():
    """Show the button that confirms the address (and, for a claim link, the password fields)."""
    token = request.args.get("token", "")[:256]
    return render_template("verify.html", token=token, kind=accounts.confirmation_kind(token), error=None)


@pages.post("/verify")
def verify_submit():
    """Confirm the address with the mailed token."""
    token, password = _form_token(), request.form.get("password")
    kind = accounts.confirmation_kind(token)
    if kind == "claim":
        error = _password_form_error(password or "")
        if error:
            return render_template("verify.html", token=token, kind=kind, error=error), 400
    try:
        accounts.confirm(token, password, settings=current_settings())
    except InvalidInput as exc:
        if kind == "claim" and exc.errors[0].field == "password":
            return render_template("verify.html", token=token, kind=kind, error=_sentence(exc)), 400
        return render_template("message.html", title="Link not valid", text=LINK_SPENT), 400
    except Conflict:
        return render_template(
            "message.html", title="Address taken", text="This address belongs to another account."
        ), 409
    title, text = CONFIRMED[kind or "verify"]
    return render_template("message.html", title=title, text=text)


def _password_form_error(password: str) -> str | None:
    if password != (request.form.get("confirmation") or ""):
        return "The two passwords differ."
    if len(password) > 128:
        return "The password must be at most 128 characters."
    return None


def _sentence(exc: InvalidInput) -> str:
    return "The password " + exc.errors[0].message + "."


@pages.get("/reset")
def reset_form():
    """Show the form for a new password."""
    return render_template("reset.html", token=request.args.get("token", "")[:256], error=None)


@pages.post("/reset")
def reset_submit():
    """Set the new password with the mailed token."""
    token, password = _form_token(), request.form.get("password") or ""
    error = _password_form_error(password)
    if error:
        return render_template("reset.html", token=token, error=error), 400
    try:
        accounts.confirm_reset(token, password, settings=current_settings())
    except InvalidInput as exc:
        return render_template("reset.html", token=token, error=exc.errors[0].message.capitalize() + "."), 400
    return render_template(
        "message.html", title="Password changed", text="Your new password is set; sign in with it on every device."
    )


def database_unavailable_page(error: Exception):
    """The database is down or too slow: a page saying to try again, 503 with Retry-After."""
    if not database_unavailable(error):
        raise error
    log.warning("the database is unavailable: %s", database_cause(error))
    page = render_template("message.html", title="Try again shortly", text=DATABASE_UNAVAILABLE_DETAIL)
    return page, 503, {"Retry-After": str(RETRY_AFTER)}


for _database_failure in DATABASE_ERRORS:
    pages.register_error_handler(_database_failure, database_unavailable_page)
