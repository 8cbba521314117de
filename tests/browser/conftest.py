"""The console in a real browser: Debian's Chromium driven by Playwright, against `python app.py` on loopback.

Every page is watched: a console error, an uncaught exception, a failed request or an answer of 400 or more
that the test did not announce fails the test.
"""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET_KEY, free_port, wait_for_health

ROOT = Path(__file__).resolve().parent.parent.parent
CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
STAFF_EMAIL, ADMIN_EMAIL = "staff@example.com", "admin@example.com"
PASSWORD = "a long console passphrase"
DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 375, "height": 800}
AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_VERSION = "4.14.1"
AXE_FAILS = {"serious", "critical"}
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright import sync_api
except ImportError:  # the tests skip, saying why
    sync_api = None
else:
    # How long an expectation waits for the page to get there (5 s by default): a loaded CI machine is slower.
    sync_api.expect.set_options(timeout=15_000)


def _require_chromium() -> None:
    if sync_api is None:
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")


class Service:
    """`python app.py` on a free loopback port, with its own SQLite database and queue in a temporary directory."""

    def __init__(self, directory: Path, **env: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = directory / "server.log"
        self.env = {
            **os.environ,
            "APP_ENV": "test",
            "SECRET_KEY": TEST_SECRET_KEY,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "PUBLIC_BASE_URL": self.base,
            "DATABASE_URL": f"sqlite:///{directory / 'console.db'}",
            "QUEUE_URL": f"sqlite:///{directory / 'queue.db'}",
            "AUTO_MIGRATE": "true",
            "MAIL_BACKEND": "console",
            "LOG_LEVEL": "WARNING",
            # Every test signs in from the same address, many times a minute.
            "RATE_LIMIT_LOGIN": "1000/minute",
            "RATE_LIMIT_REFRESH": "1000/minute",
            "RATE_LIMIT_SIGNUP": "1000/minute",
            # Small enough that a file of a few hundred rows runs as a background job with a progress bar.
            "IMPORT_SYNC_MAX_BYTES": "4096",
            **env,
        }
        with open(self.log, "a") as output:
            self.process = subprocess.Popen(
                [sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        wait_for_health(self.base, self.process, self.log)

    def create_user(self, email: str, role: str) -> None:
        """A staff member or admin, made as an operator would: with the CLI."""
        argv = [sys.executable, "-m", "flask", "--app", "app", "users", "create", email, "--role", role]
        done = subprocess.run([*argv, "--password", PASSWORD], cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr

    def api(self, email: str = STAFF_EMAIL, password: str = PASSWORD) -> httpx.Client:
        """An API client signed in (tokens in the body, as API clients get them)."""
        tokens = httpx.post(f"{self.base}/api/auth/login", json={"email": email, "password": password})
        assert tokens.status_code == 200, tokens.text
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        return httpx.Client(base_url=f"{self.base}/api", headers=headers)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def service(tmp_path_factory):
    _require_chromium()
    server = Service(tmp_path_factory.mktemp("console"))
    server.create_user(STAFF_EMAIL, "staff")
    server.create_user(ADMIN_EMAIL, "admin")
    yield server
    server.stop()


# Per module, not per session: Playwright's sync API keeps an event loop running in the main thread while it is
# open, and tests of other directories that run after these call asyncio.run() there.
@pytest.fixture(scope="module")
def browser():
    _require_chromium()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


class Watch:
    """Everything that went wrong in the pages of one test, less what the test said to expect."""

    def __init__(self):
        self.problems: list[str] = []
        self.expected: list[tuple[int, str]] = []
        self.requests: list[str] = []

    def expect(self, status: int, path: str) -> None:
        """An answer the test provokes on purpose (a refusal the console must show)."""
        self.expected.append((status, path))

    def _expected(self, status: int, url: str) -> bool:
        return any(status == code and path in url for code, path in self.expected)

    def watch(self, page) -> None:
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"uncaught: {error}"))
        page.on("requestfailed", lambda request: self.problems.append(f"failed: {request.url} {request.failure}"))
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        statuses = [code for code, path in self.expected if path in url and f"status of {code}" in message.text]
        if not statuses:
            self.problems.append(f"console: {message.text} ({url})")

    def _response(self, response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.problems.append(f"answer {response.status}: {response.request.method} {response.url}")


@pytest.fixture
def watch():
    watching = Watch()
    yield watching
    assert not watching.problems, "\n".join(watching.problems)


@pytest.fixture
def context(browser, service, watch):
    """A fresh browser profile (no cookies) whose pages are watched; desktop width unless changed."""
    profile = browser.new_context(viewport=DESKTOP, base_url=service.base)
    profile.set_default_timeout(10_000)
    yield profile
    profile.close()


@pytest.fixture
def new_page(context, watch):
    """Open another tab of the same profile (the cookie is shared), watched as the first."""

    def open_tab():
        tab = context.new_page()
        watch.watch(tab)
        return tab

    return open_tab


@pytest.fixture
def page(new_page):
    return new_page()


def sign_in(page, email: str = STAFF_EMAIL, password: str = PASSWORD) -> None:
    """Open the console and sign in through its form."""
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def axe_check(page, name: str) -> None:
    """Run axe-core on the page as it is: no serious or critical violation of any of its rules."""
    # Evaluated through the debugging protocol, which the page's CSP (no inline script) does not govern.
    if not page.evaluate("typeof window.axe === 'object'"):
        page.evaluate(AXE.read_text())
    assert page.evaluate("axe.version") == AXE_VERSION
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map((v) => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' '))}))"""
    )
    bad = [v for v in violations if v["impact"] in AXE_FAILS]
    assert not bad, f"{name}: " + "; ".join(f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes'][:3]}" for v in bad)


def screenshot(page, name: str) -> None:
    """Save the page at desktop and phone width (tests/browser/screenshots/, not committed); it must fit both and
    pass axe-core at both."""
    SCREENSHOTS.mkdir(exist_ok=True)
    size = page.viewport_size
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        axe_check(page, f"{name} at {label}")
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        # Readable means no sideways scrolling, on a phone too.
        assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"], f"{name} at {label}"
    page.set_viewport_size(size)
