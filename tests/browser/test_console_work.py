"""The console's work screens in Chromium: imports, ERP sales, the activity trail, administration and the overview
(see conftest.py for the watch on every page: console errors and failed requests fail the test)."""

import csv
import io
import json
import threading
import uuid
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.browser.conftest import ADMIN_EMAIL, PASSWORD, Service, screenshot, sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect
pytestmark = [pytest.mark.browser, pytest.mark.subprocess]


def unique() -> str:
    return uuid.uuid4().hex[:6]


def members_csv(tag: str, rows: int, bad_every: int = 0) -> bytes:
    """A customer CSV of `rows` rows; every `bad_every`th row has an email that is not one."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "first_name", "last_name"])
    for n in range(rows):
        bad = bad_every and n % bad_every == bad_every - 1
        writer.writerow([f"{tag}-{n}", f"not-an-email-{n}" if bad else f"m{n}.{tag}@example.com", "Imp", f"Row{n}"])
    return out.getvalue().encode()


def test_import_runs_as_a_job_with_a_progress_bar_then_shows_rejected_rows(page, service, watch, tmp_path):
    """A file over IMPORT_SYNC_MAX_BYTES runs as a job: a progress bar, then counts, rejected rows, errors.csv."""
    tag = unique()
    upload = tmp_path / f"members-{tag}.csv"
    upload.write_bytes(members_csv(tag, 400, bad_every=50))
    sign_in(page)
    page.get_by_role("link", name="Imports").click()
    expect(page.get_by_role("heading", name="Imports")).to_be_visible()
    page.get_by_label("CSV file").set_input_files(str(upload))
    with page.expect_response(
        lambda response: response.url.endswith("/api/customers/import?mode=best_effort&on_conflict=reject")
    ) as sent:
        page.get_by_role("button", name="Import").click()
    assert sent.value.status == 202  # a job, not the report at once
    job = sent.value.json()["id"]
    expect(page.locator("#import-progress")).to_be_visible()
    expect(page.get_by_role("heading", name=f"Import of {upload.name}: succeeded")).to_be_visible(timeout=30_000)
    assert any(url.endswith(f"/api/imports/{job}") for url in watch.requests)  # the bar followed the job
    expect(page.locator("#import-created")).to_have_text("392")
    expect(page.locator("#import-rejected")).to_have_text("8")
    rejected = page.locator("#import-report tbody tr")
    expect(rejected).to_have_count(8)
    expect(rejected.first).to_contain_text("51")  # the header is line 1: row 49 of the data is line 51
    expect(rejected.first).to_contain_text("email")
    expect(rejected.first).to_contain_text("not-an-email-49")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download every error (CSV)").click()
    lines = download.value.path().read_text().splitlines()
    assert lines[0] == "line,field,message,value"
    assert len(lines) == 9 and lines[1].startswith("51,email,")
    screenshot(page, "imports")


def test_a_running_import_is_cancelled_from_its_progress_bar(page, service, tmp_path):
    """Cancel stops a background import: it ends cancelled, with fewer customers stored than the file holds."""
    tag = unique()
    upload = tmp_path / f"big-{tag}.csv"
    upload.write_bytes(members_csv(tag, 200_000))
    sign_in(page)
    page.goto("/#/imports")
    page.get_by_label("CSV file").set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    page.get_by_role("button", name="Cancel import").click()
    expect(page.get_by_role("heading", name=f"Import of {upload.name}: cancelled")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("button", name="Cancel import")).to_have_count(0)
    created = int(page.locator("#import-created").inner_text())
    assert created < 200_000
    expect(page.get_by_text("Cancelled: the batches stored before it stay.")).to_be_visible()


def test_export_of_the_current_filter_downloads_only_the_matching_customers(page, service):
    """Export CSV on the customers table sends what the filter shows, and nobody else."""
    tag = unique()
    api = service.api()
    for name in ("Ada", "Bea"):
        assert (
            api.post(
                "/customers", json={"first_name": name, "last_name": f"Expo{tag}", "email": f"{name}{tag}@example.com"}
            ).status_code
            == 201
        )
    assert (
        api.post(
            "/customers", json={"first_name": "Cy", "last_name": f"Other{tag}", "email": f"cy{tag}@example.com"}
        ).status_code
        == 201
    )
    sign_in(page)
    page.get_by_label("Find by name, email or phone").fill(f"expo{tag}")
    expect(page.locator("table.customers tbody tr")).to_have_count(2)
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert sorted(row["first_name"] for row in rows) == ["Ada", "Bea"]


class Partner:
    """The partner cashback API on 127.0.0.1: answers each POST with the next status of `answers` (then 201)."""

    def __init__(self, answers: list[int]):
        self.answers = list(answers)
        self.received: list[dict] = []
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                partner.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status = partner.answers.pop(0) if partner.answers else 201
                body = json.dumps({"id": len(partner.received), "message": "ok" if status == 201 else "boom"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/cashback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def partner_service(tmp_path):
    """A second service whose partner answers 500 once, then 201; automatic retries off (one attempt per sale)."""
    partner = Partner([500])
    server = Service(tmp_path, CASHBACK_API_URL=partner.url, CASHBACK_FORWARD_ATTEMPTS="1")
    server.create_user(ADMIN_EMAIL, "admin")
    yield server, partner
    server.stop()
    partner.close()


def cpf() -> str:
    """A random valid CPF (its two check digits computed)."""
    digits = [int(d) for d in f"{uuid.uuid4().int % 10**9:09d}"]
    for size in (9, 10):
        total = sum(d * w for d, w in zip(digits, range(size + 1, 1, -1), strict=True))
        digits.append((total * 10) % 11 % 10)
    return "".join(map(str, digits))


def erp_sale(document: str, total: str = "120.00", name: str = "Bruna Souza") -> dict:
    return {
        "sold_at": "2026-11-20 10:00:00",
        "customer": {"document": document, "name": name},
        "total": total,
        "products": [{"type": "A", "value": total, "qty": 1}],
    }


def test_a_failed_forward_is_retried_by_hand(browser, partner_service, watch):
    """A sale the partner refused (500) is listed as failed; Retry sends it again and the partner's 201 clears it."""
    server, partner = partner_service
    api = server.api(ADMIN_EMAIL)
    sent = api.post("/cashback", json=erp_sale(cpf()))
    assert sent.status_code in (201, 202), sent.text
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.base)
    context.set_default_timeout(10_000)
    page = context.new_page()
    watch.watch(page)
    try:
        sign_in(page, ADMIN_EMAIL)
        page.goto("/#/sales")
        failed = page.locator("#failed-title + div tbody tr")
        for _ in range(50):  # the first forward runs on the queue: wait until it has failed
            if failed.count():
                break
            page.wait_for_timeout(200)
            page.reload()
            page.get_by_role("heading", name="Failed forwards").wait_for()
        expect(failed).to_have_count(1)
        expect(failed.first).to_contain_text("Bruna Souza")
        screenshot(page, "sales-failed")
        page.get_by_role("button", name="Retry the sale of Bruna Souza").click()
        expect(page.get_by_text("Every sale reached the partner.")).to_be_visible()
        expect(page.locator("#status")).to_have_text("The sale of Bruna Souza reached the partner.")
        assert len(partner.received) == 2
        assert api.get(f"/cashback/{sent.json()['id']}").json()["status"] == "sent"
    finally:
        context.close()


def test_a_sale_attached_to_no_customer_is_attached_by_hand(page, service):
    """A sale whose document matches nobody is attached to a customer found by search, and becomes their order."""
    tag = unique()
    api = service.api()
    customer = api.post(
        "/customers", json={"first_name": "Ines", "last_name": f"Attach{tag}", "email": f"i{tag}@example.com"}
    )
    assert customer.status_code == 201
    sale = api.post("/cashback", json=erp_sale(cpf(), "80.00", f"Walk-in {tag}"))
    assert sale.status_code in (201, 202), sale.text
    sign_in(page)
    page.goto("/#/sales")
    page.get_by_label(f"Customer for Walk-in {tag}").fill(f"attach{tag}")
    page.get_by_role("button", name=f"Attach to Ines Attach{tag}").click()
    expect(page.locator("#status")).to_have_text(f"The sale of 80.00 is now an order of Ines Attach{tag}.")
    expect(page.get_by_text(f"Walk-in {tag}")).to_have_count(0)
    rewards = api.get(f"/customers/{customer.json()['id']}/rewards").json()
    assert rewards["points"] == 80
    screenshot(page, "sales")


def test_an_order_is_undone_from_the_activity_trail(page, service):
    """The trail of today lists the order; Undo order reverses it and the customer loses its points."""
    tag = unique()
    api = service.api()
    customer = api.post(
        "/customers", json={"first_name": "Tr", "last_name": f"Ail{tag}", "email": f"tr{tag}@example.com"}
    ).json()
    placed = api.post(f"/customers/{customer['id']}/orders", json={"total": "75.00"}).json()["order"]
    sign_in(page)
    page.get_by_role("link", name="Activity").click()
    page.get_by_label("Action").fill("order.created")
    page.get_by_role("button", name="Show").click()
    entry = page.locator("table.activity tbody tr", has_text=f"order:{placed['id']}")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("order.created")
    screenshot(page, "activity")
    entry.get_by_role("button", name=f"Undo order {placed['id']}").click()
    expect(page.locator("#status")).to_have_text(f"Order {placed['id']} of 75.00 was undone: 75 points taken back.")
    assert api.get(f"/customers/{customer['id']}/rewards").json()["points"] == 0
    page.get_by_label("Action").fill("order.reversed")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table.activity tbody tr", has_text=f"order:{placed['id']}")).to_have_count(1)


def test_admin_creates_staff_and_an_api_key_then_revokes_it(page, service, watch):
    """Create a staff user (who can then sign in), meet the last-admin rule, create a key shown once, revoke it."""
    tag = unique()
    sign_in(page, ADMIN_EMAIL)
    page.get_by_role("link", name="Administration").click()
    email = f"new{tag}@example.com"
    form = page.locator("form", has=page.get_by_role("heading", name="Add a person"))
    form.get_by_label("Email").fill(email)
    form.get_by_label("Password (8 to 128 characters)").fill(PASSWORD)
    form.get_by_role("button", name="Create user").click()
    expect(page.locator("#users-title + p + div tbody tr", has_text=email)).to_contain_text("staff")
    assert httpx.post(f"{service.base}/api/auth/login", json={"email": email, "password": PASSWORD}).status_code == 200

    # The only admin cannot deactivate themself: the rule is said plainly.
    watch.expect(409, "/api/users/")
    admin_row = page.locator("tr", has_text=ADMIN_EMAIL)
    admin_row.get_by_role("button", name="Deactivate").click()
    expect(page.locator("#admin-alert")).to_contain_text("last active admin")

    page.get_by_label("Name of the client").fill(f"ERP {tag}")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert len(key) > 20
    sale = httpx.post(f"{service.base}/api/cashback", json=erp_sale(cpf()), headers={"X-API-Key": key})
    assert sale.status_code == 201, sale.text
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "admin")
    page.get_by_role("button", name=f"Revoke ERP {tag}").click()
    expect(page.locator("tr", has_text=f"ERP {tag}")).to_contain_text("revoked")
    assert (
        httpx.post(f"{service.base}/api/cashback", json=erp_sale(cpf()), headers={"X-API-Key": key}).status_code == 401
    )


def test_the_overview_draws_its_charts_with_the_right_totals(page, service):
    """The totals match what the API sums, the bars of today carry today's figures, each chart is drawn."""
    api = service.api()
    customer = api.post("/customers", json={"first_name": "Ov", "email": f"ov{unique()}@example.com"}).json()
    for total in ("100.00", "40.00"):
        placed = api.post(
            f"/customers/{customer['id']}/orders",
            json={"total": total, "items": [{"type": "A", "value": total, "qty": 1}]},
        )
        assert placed.status_code == 201
    figures = api.get("/stats/overview", params={"days": 30}).json()
    assert figures["days"][-1]["orders"] >= 2
    sign_in(page)
    page.get_by_role("link", name="Overview").click()
    expect(page.locator("#total-orders")).to_have_text(str(figures["totals"]["orders"]))
    expect(page.locator("#total-points")).to_have_text(str(figures["totals"]["points"]))
    expect(page.locator("#total-cashback")).to_have_text(figures["totals"]["cashback"])
    expect(page.locator("#total-customers")).to_have_text(str(figures["customers"]))
    for chart, bars in (
        ("tiers-chart", len(figures["tiers"])),
        ("orders-chart", 30),
        ("points-chart", 30),
        ("cashback-chart", 30),
    ):
        expect(page.locator(f"#{chart} svg rect.bar")).to_have_count(bars)
    today = figures["days"][-1]
    expect(page.locator("#cashback-chart rect.bar").last).to_have_attribute("data-value", today["cashback"])
    expect(page.locator("#orders-chart rect.bar").last).to_have_attribute("data-value", str(today["orders"]))
    heights = page.locator("#points-chart rect.bar").evaluate_all(
        "(bars) => bars.map((b) => Number(b.getAttribute('height')))"
    )
    assert heights[-1] == max(heights) > 0
    assert Decimal(today["cashback"]) >= Decimal("7.00")
    screenshot(page, "overview")
