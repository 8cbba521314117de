"""The /verify and /reset pages: a form that posts back the mailed token (GET never changes anything)."""

from flask import Blueprint, render_template, request

from services import auth
from services.errors import InvalidInput

pages = Blueprint("account_pages", __name__)


def _form_token() -> str:
    return (request.form.get("token") or "")[:256]


@pages.get("/verify")
def verify_form():
    """Show the button that confirms the email address."""
    return render_template("verify.html", token=request.args.get("token", "")[:256])


@pages.post("/verify")
def verify_submit():
    """Confirm the email address with the mailed token."""
    try:
        auth.verify_email(_form_token())
    except InvalidInput:
        return render_template(
            "message.html", title="Link not valid", text="This link is invalid, expired or already used."
        ), 400
    return render_template("message.html", title="Email confirmed", text="Thank you: your email address is confirmed.")


@pages.get("/reset")
def reset_form():
    """Show the form for a new password."""
    return render_template("reset.html", token=request.args.get("token", "")[:256], error=None)


@pages.post("/reset")
def reset_submit():
    """Set the new password with the mailed token."""
    token, password = _form_token(), request.form.get("password") or ""
    if password != (request.form.get("confirmation") or ""):
        return render_template("reset.html", token=token, error="The two passwords differ."), 400
    if len(password) > 128:
        return render_template("reset.html", token=token, error="The password must be at most 128 characters."), 400
    try:
        auth.confirm_reset(token, password)
    except InvalidInput as exc:
        return render_template("reset.html", token=token, error=exc.errors[0].message.capitalize() + "."), 400
    return render_template(
        "message.html", title="Password changed", text="Your new password is set; sign in with it on every device."
    )
