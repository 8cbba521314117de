"""Account pages in Chromium: signup in the console, the mailed /verify link, signing in to one's card; a reset link;
a signed-in account not verified yet is told so (see conftest.py for the watch and the axe-core check)."""

import re
import uuid

import pytest

from tests.browser.conftest import DESKTOP, Service, screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.subprocess]
CHOSEN = "a fresh signup passphrase"


@pytest.fixture
def mail_service(tmp_path, smtp_server):
    """A service that delivers its mail to the test's SMTP server on 127.0.0.1."""
    mailbox, port = smtp_server
    with mailbox._arrived:
        mailbox.messages.clear()
    server = Service(tmp_path, MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    yield server, mailbox
    server.stop()


@pytest.fixture
def mail_page(browser, mail_service, watch):
    server, _ = mail_service
    profile = browser.new_context(viewport=DESKTOP, base_url=server.base)
    profile.set_default_timeout(10_000)
    tab = profile.new_page()
    watch.watch(tab)
    yield tab
    profile.close()


def leave(page) -> None:
    """Wait until the page has loaded everything (its icon too), so that leaving it aborts no request."""
    page.wait_for_load_state("networkidle")


def sign_in_here(page, email: str, password: str) -> None:
    """Sign in through the form of the console page already open."""
    page.get_by_role("button", name="Sign in").wait_for()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def link(message, path: str) -> str:
    """The path and query of the first link to `path` in a mail's text."""
    found = re.search(
        rf"https?://[^/\s]+({re.escape(path)}\?token=[\w.-]+)", message.get_body(("plain",)).get_content()
    )
    assert found, message.get_body(("plain",)).get_content()
    return found.group(1)


def test_signup_check_mail_verify_then_sign_in_to_ones_card(mail_page, mail_service):
    """A new account is told to check its mail and that it is not verified; the link verifies it; the card shows."""
    _, mailbox = mail_service
    email = f"sig{uuid.uuid4().hex[:6]}@example.com"
    page = mail_page
    page.goto("/")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8 to 128 characters)").fill(CHOSEN)
    page.get_by_label("First name (optional)").fill("Sina")
    screenshot(page, "signup")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    expect(page.get_by_text(f"We sent a message to {email}.")).to_be_visible()
    screenshot(page, "check-mail")

    # Signed in before opening the link: the console says the address is not confirmed yet.
    page.get_by_role("link", name="Back to sign in").click()
    sign_in_here(page, email, CHOSEN)
    expect(page.locator("#notice")).to_have_text(
        f"Your email address is not confirmed yet: open the link we mailed to {email}."
    )
    screenshot(page, "not-verified")
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#status")).to_have_text("Signed out.")  # the logout request has been answered

    leave(page)
    page.goto(link(mailbox.wait_for(email), "/verify"))
    expect(page.get_by_role("heading", name="Confirm your email")).to_be_visible()
    screenshot(page, "verify")
    page.get_by_role("button", name="Confirm my email").click()
    expect(page.get_by_role("heading", name="Email confirmed")).to_be_visible()
    screenshot(page, "verified")
    leave(page)
    page.get_by_role("link", name="Go to the console").click()
    sign_in_here(page, email, CHOSEN)
    expect(page.get_by_role("heading", name="Your card")).to_be_visible()
    expect(page.locator("#points")).to_have_text("0")
    expect(page.locator("#notice")).to_be_hidden()


def test_a_known_customer_chooses_the_password_on_the_verify_page(mail_page, mail_service):
    """Signing up with an address a customer record has: the link asks for the password, then the card is theirs."""
    server, mailbox = mail_service
    server.create_user("boss@example.com", "admin")
    email = f"known{uuid.uuid4().hex[:6]}@example.com"
    made = server.api("boss@example.com").post("/customers", json={"email": email, "first_name": "Kai"})
    assert made.status_code == 201, made.text
    page = mail_page
    page.goto("/#/signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8 to 128 characters)").fill("discarded passphrase here")
    page.get_by_role("button", name="Create my account").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    leave(page)
    page.goto(link(mailbox.wait_for(email), "/verify"))
    expect(page.get_by_role("heading", name="Choose your password")).to_be_visible()
    page.get_by_label("Password (8 to 128 characters)").fill(CHOSEN)
    page.get_by_label("The same again").fill(CHOSEN)
    screenshot(page, "verify-choose-password")
    page.get_by_role("button", name="Set my password").click()
    expect(page.get_by_role("heading", name="Account ready")).to_be_visible()
    leave(page)
    page.get_by_role("link", name="Go to the console").click()
    sign_in_here(page, email, CHOSEN)
    expect(page.get_by_role("heading", name="Your card")).to_be_visible()


def test_a_forgotten_password_is_reset_from_the_mailed_link(mail_page, mail_service):
    """Forgot your password? mails a link; its page sets the new password, which then signs in."""
    server, mailbox = mail_service
    email = "staffer@example.com"
    server.create_user(email, "staff")
    page = mail_page
    page.goto("/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Forgot your password?")).to_be_visible()
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()
    leave(page)
    page.goto(link(mailbox.wait_for(email), "/reset"))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password (8 to 128 characters)").fill(CHOSEN)
    page.get_by_label("The same again").fill(CHOSEN)
    screenshot(page, "reset")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.get_by_role("heading", name="Password changed")).to_be_visible()
    leave(page)
    page.get_by_role("link", name="Go to the console").click()
    sign_in_here(page, email, CHOSEN)
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
