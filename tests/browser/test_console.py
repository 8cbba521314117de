"""The console at /, used as staff and customers use it, in Chromium (see conftest.py for the watch on every page)."""

import gzip
import re
import uuid

import httpx
import pytest

from tests.browser.conftest import ADMIN_EMAIL, PASSWORD, screenshot, sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.subprocess]
FIRST_LOAD_BUDGET = 150 * 1024


def unique() -> str:
    return uuid.uuid4().hex[:6]


def phone() -> str:
    return f"+1415555{uuid.uuid4().int % 10_000:04d}"


def new_customer(api: httpx.Client, **fields) -> dict:
    response = api.post("/customers", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def open_card(page, customer: dict) -> None:
    page.goto(f"/#/customers/{customer['id']}")
    expect(page.locator("#points")).to_be_visible()


def assert_labelled(page) -> None:
    """Every field has a label and every button a name, for screen readers."""
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => el.offsetParent !== null || el.closest('[hidden]') === null)
            .filter((el) => el.tagName === 'BUTTON'
                ? !(el.textContent.trim() || el.getAttribute('aria-label'))
                : !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
            .map((el) => el.outerHTML)"""
    )
    assert unnamed == []


def test_staff_sign_in_and_find_customers_as_they_type(page, service, watch):
    """The table filters by name or phone (any notation) while typing, sorts, and pages with More."""
    tag = unique()
    api = service.api()
    people = [
        new_customer(api, first_name="Pat", last_name=f"Quint{tag}{n:02d}", phone_number=phone()) for n in range(22)
    ]
    for who, total in ((people[3], "300.00"), (people[7], "120.00")):
        assert api.post(f"/customers/{who['id']}/orders", json={"total": total}).status_code == 201
    loaded = []
    page.on("response", lambda response: loaded.append(response) if "/console/" in response.url else None)
    sign_in(page)
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()

    search = page.get_by_label("Find by name, email or phone")
    search.press_sequentially(f"quint{tag}", delay=30)
    rows = page.locator("table.customers tbody tr")
    expect(rows).to_have_count(20)
    page.get_by_role("button", name="More customers").click()
    expect(rows).to_have_count(22)
    expect(page.get_by_role("button", name="More customers")).to_be_hidden()

    page.get_by_label("Order").select_option(label="Most points")
    expect(rows.first).to_contain_text(people[3]["last_name"])
    expect(rows.first).to_contain_text("300")
    expect(rows.nth(1)).to_contain_text(people[7]["last_name"])
    page.get_by_label("Order").select_option(label="Name")
    expect(rows.first).to_contain_text(people[0]["last_name"])
    screenshot(page, "customers")

    # A phone number in another notation than the stored E.164 one.
    digits = people[5]["phone_number"][2:]
    search.fill("")
    search.press_sequentially(f"({digits[:3]}) {digits[3:6]}-{digits[6:]}", delay=20)
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(people[5]["last_name"])
    search.fill(f"nobody{tag}")
    expect(page.get_by_text("No customers match.")).to_be_visible()
    assert_labelled(page)

    first_load = sum(len(gzip.compress(response.body())) for response in loaded)
    page_itself = len(gzip.compress(httpx.get(service.base + "/").content))
    assert 0 < first_load + page_itself < FIRST_LOAD_BUDGET


def test_an_order_moves_points_tier_and_bar_and_undo_takes_it_back(page, service):
    """Add orders from the card: points, tier and the bar follow without a reload; Undo reverses one."""
    tag = unique()
    customer = new_customer(service.api(), first_name="Olga", last_name=f"Order{tag}", email=f"olga{tag}@example.com")
    sign_in(page)
    page.get_by_label("Find by name, email or phone").fill(f"order{tag}")
    page.get_by_role("link", name=f"Olga Order{tag}").click()
    expect(page.locator("#points")).to_have_text("0")
    expect(page.locator("#tier-name")).to_have_text("No tier yet")
    expect(page.locator("#progress")).to_have_attribute("value", "0")

    page.get_by_label("Order total").fill("150.00")
    page.get_by_label("Item 1 value").fill("150.00")
    page.get_by_role("button", name="Record order").click()
    expect(page.locator("#points")).to_have_text("150")
    expect(page.locator("#tier-name")).to_have_text("Tier A: 5% off purchase")
    expect(page.locator("#progress")).to_have_attribute("value", "50")
    expect(page.locator("#balance")).to_have_text("7.50")

    page.get_by_label("Order total").fill("60.00")
    page.get_by_role("button", name="Record order").click()
    expect(page.locator("#points")).to_have_text("210")
    expect(page.locator("#tier-name")).to_have_text("Tier B: 10% off purchase")
    expect(page.locator("#progress")).to_have_attribute("value", "10")
    expect(page.get_by_label("10% of the way to tier C (15% off purchase)")).to_be_visible()
    assert_labelled(page)
    screenshot(page, "card")

    page.get_by_role("button", name="Undo the order of 60.00").click()
    expect(page.locator("#points")).to_have_text("150")
    expect(page.locator("#tier-name")).to_have_text("Tier A: 5% off purchase")
    expect(page.locator("#progress")).to_have_attribute("value", "50")
    expect(page.get_by_role("cell", name="reversed")).to_be_visible()
    expect(page.get_by_role("button", name="Undo the order of 60.00")).to_have_count(0)
    assert service.api().get(f"/customers/{customer['id']}/rewards").json()["points"] == 150


def test_a_refused_redemption_is_shown_plainly(page, service, watch):
    """Redeeming more than the balance says so; the balance stays; a smaller amount goes through."""
    tag = unique()
    api = service.api()
    customer = new_customer(api, first_name="Rita", last_name=f"Redeem{tag}", email=f"rita{tag}@example.com")
    api.post(
        f"/customers/{customer['id']}/orders",
        json={"total": "100.00", "items": [{"type": "D", "value": "100.00", "qty": 1}]},
    )
    watch.expect(422, "/redemptions")
    sign_in(page)
    open_card(page, customer)
    expect(page.locator("#balance")).to_have_text("10.00")
    page.get_by_label("Amount to redeem").fill("25.00")
    page.get_by_role("button", name="Redeem", exact=True).click()
    expect(page.get_by_role("alert").filter(has_text="Refused")).to_have_text("Refused: insufficient balance.")
    screenshot(page, "redeem-refused")
    expect(page.locator("#balance")).to_have_text("10.00")
    page.get_by_label("Amount to redeem").fill("4.00")
    page.get_by_role("button", name="Redeem", exact=True).click()
    expect(page.locator("#balance")).to_have_text("6.00")
    expect(page.get_by_role("cell", name="redemption")).to_be_visible()


def test_an_edit_that_meets_a_concurrent_change_is_reported_not_overwritten(page, service, watch):
    """The form sends its ETag: a change saved meanwhile gives 412, shown, and the current version can be loaded."""
    tag = unique()
    api = service.api()
    customer = new_customer(api, first_name="Eva", last_name=f"Edit{tag}", email=f"eva{tag}@example.com")
    watch.expect(412, f"/api/customers/{customer['id']}")
    sign_in(page)
    open_card(page, customer)
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("First name").fill("Evelyn")
    assert api.patch(f"/customers/{customer['id']}", json={"last_name": f"Elsewhere{tag}"}).status_code == 200
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("alert")).to_contain_text("someone changed this customer")
    screenshot(page, "edit-conflict")
    assert api.get(f"/customers/{customer['id']}").json()["first_name"] == "Eva"
    page.get_by_role("button", name="Load the current version").click()
    expect(page.get_by_label("Last name")).to_have_value(f"Elsewhere{tag}")
    page.get_by_label("First name").fill("Evelyn")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name=f"Evelyn Elsewhere{tag}")).to_be_visible()


def test_create_shows_field_errors_next_to_fields_and_erase_asks_first(page, service, watch):
    """An admin creates a customer (the API's field errors beside the fields), then erases it after confirming."""
    tag = unique()
    watch.expect(400, "/api/customers")
    sign_in(page, ADMIN_EMAIL)
    page.get_by_role("link", name="New customer").first.click()
    page.get_by_label("First name").fill("Nina")
    page.get_by_label("Last name").fill(f"New{tag}")
    page.get_by_label("Email").fill("nina-at-example")
    page.get_by_label("Phone").fill("12")
    page.get_by_role("button", name="Create customer").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{email.get_attribute('aria-describedby')}")).to_contain_text("@")
    expect(page.get_by_label("Phone")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "new-customer-errors")
    email.fill(f"nina{tag}@example.com")
    page.get_by_label("Phone").fill("")
    page.get_by_role("button", name="Create customer").click()
    expect(page.get_by_role("heading", name=f"Nina New{tag}")).to_be_visible()
    customer_id = page.url.rsplit("/", 1)[1]

    page.get_by_role("button", name="Erase…").click()
    page.get_by_role("group", name="Confirm erasure").get_by_role("button", name="Keep").click()
    expect(page.get_by_role("heading", name=f"Nina New{tag}")).to_be_visible()
    page.get_by_role("button", name="Erase…").click()
    page.get_by_role("button", name="Erase for good").click()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    assert service.api().get(f"/customers/{customer_id}").status_code == 404


def test_the_card_hides_for_privacy_and_mails_a_statement(page, service):
    """Hide takes the card off the screen while the customer looks; Show brings it back; the statement is mailed."""
    tag = unique()
    customer = new_customer(service.api(), first_name="Hana", last_name=f"Hide{tag}", email=f"hana{tag}@example.com")
    sign_in(page)
    open_card(page, customer)
    hide = page.get_by_role("button", name="Hide card")
    hide.click()
    expect(page.locator("#points")).to_be_hidden()
    expect(page.get_by_text(f"hana{tag}@example.com")).to_be_hidden()
    expect(page.get_by_text("The card is hidden.")).to_be_visible()
    screenshot(page, "card-hidden")
    show = page.get_by_role("button", name="Show card")
    expect(show).to_have_attribute("aria-pressed", "true")
    show.click()
    expect(page.locator("#points")).to_be_visible()
    page.get_by_role("button", name="Mail statement").click()
    expect(page.get_by_role("status")).to_have_text("The statement is on its way.")


def test_a_reload_stays_signed_in_and_tabs_refreshing_at_once_keep_the_session(context, page, new_page):
    """The cookie signs a reload back in; two tabs reloading at the same instant both stay signed in."""
    sign_in(page)
    page.wait_for_load_state("networkidle")  # reloading mid-request would abort it
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("heading", name="Customers")).to_be_visible()
    # The refresh token is out of reach of page scripts; they see only the hint that one was handed over.
    assert page.evaluate("document.cookie") == "signed_in=1"

    other = new_page()
    other.goto("/#/tiers")
    expect(other.get_by_role("button", name="Sign out")).to_be_visible()
    refreshes = []
    for tab in (page, other):
        tab.on("response", lambda response: refreshes.append(response) if "/auth/refresh" in response.url else None)
    # Each tab's refresh is held until the other's is on its way too: both present the same cookie at once.
    held = []

    def together(route):
        held.append(route)
        if len(held) == 2:
            for waiting in held:
                waiting.continue_()
            held.clear()

    context.route("**/api/auth/refresh", together)
    for _ in range(2):
        for tab in (page, other):
            tab.wait_for_load_state("networkidle")
        for tab in (page, other):
            tab.evaluate("setTimeout(() => location.reload(), 0)")
        for tab in (page, other):
            expect(tab.get_by_role("button", name="Sign out")).to_be_visible()
    context.unroute("**/api/auth/refresh")
    expect(other.get_by_role("cell", name="5% off purchase", exact=True)).to_be_visible()
    screenshot(other, "tiers")
    assert len(refreshes) == 4 and all(response.status == 200 for response in refreshes)
    for first, second in (refreshes[:2], refreshes[2:]):
        assert first.request.all_headers()["cookie"] == second.request.all_headers()["cookie"]
        assert first.all_headers()["set-cookie"] == second.all_headers()["set-cookie"]
    # Still one live session: a later reload signs in again.
    page.wait_for_load_state("networkidle")
    page.reload()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_customer_sees_only_their_own_card(page, service, watch):
    """A customer lands on their card, changes their profile and password, and staff screens give them nothing."""
    tag = unique()
    email = f"cora{tag}@example.com"
    signup = {"email": email, "password": PASSWORD, "first_name": "Cora", "last_name": f"Self{tag}"}
    assert httpx.post(f"{service.base}/api/auth/signup", json=signup).status_code == 202
    api = service.api()
    assert api.post(f"/customers/{email}/orders", json={"total": "120.00"}).status_code == 201
    other = new_customer(api, first_name="Otto", last_name=f"Other{tag}", email=f"otto{tag}@example.com")

    sign_in(page, email)
    expect(page.get_by_role("heading", name="Your card")).to_be_visible()
    expect(page.locator("#points")).to_have_text("120")
    expect(page.locator("#tier-name")).to_have_text("Tier A: 5% off purchase")
    expect(page.locator("#progress")).to_have_attribute("value", "20")
    expect(page.get_by_role("button", name="Record order")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Undo"))).to_have_count(0)
    expect(page.get_by_role("link", name="Customers")).to_have_count(0)
    screenshot(page, "own-card")

    for screen in ("#/customers", f"#/customers/{other['id']}", f"#/customers/{other['id']}/edit"):
        page.goto(f"/{screen}")
        expect(page.get_by_role("heading", name="Not available")).to_be_visible()
    assert not [url for url in watch.requests if re.search(r"/api/customers(\?|$)|" + other["id"], url)]
    assert service.api(email).get("/customers").status_code == 403

    page.get_by_role("link", name="Profile").click()
    page.get_by_label("First name").fill("Corinna")
    page.get_by_label("Language (two letters)").fill("pt")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("Your name and language are saved.")
    assert service.api().get(f"/customers/{email}").json()["first_name"] == "Corinna"
    watch.expect(400, "/api/auth/password")
    page.get_by_label("Current password").fill("not the passphrase")
    page.get_by_label("New password").fill("another long passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_text("is not right")).to_be_visible()
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status")).to_contain_text("Your password is changed")
    expect(page.get_by_label("Current password")).to_have_value("")
    page.get_by_label("New email").fill(f"cora.new{tag}@example.com")
    page.get_by_role("button", name="Send confirmation link").click()
    expect(page.get_by_role("status")).to_contain_text("a mail to it holds the link")
    assert_labelled(page)
    screenshot(page, "profile")


def test_sign_out_then_back_shows_the_sign_in_page(page, service):
    """Signed in by keyboard alone; after sign-out, Back and reload show the sign-in form, not the data."""
    tag = unique()
    customer = new_customer(service.api(), first_name="Bea", last_name=f"Back{tag}", email=f"bea{tag}@example.com")
    page.goto("/")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type("staff@example.com")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    open_card(page, customer)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.go_back()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text(f"bea{tag}@example.com")).to_have_count(0)
    screenshot(page, "sign-in")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
