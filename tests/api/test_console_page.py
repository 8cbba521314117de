"""The console's page at / and its files: static, versioned, cached, and under the strict Content-Security-Policy."""

import re

from web.console import CONSOLE_DIR, console_version

STRICT_CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"


def test_the_console_page_is_a_shell_with_no_inline_code(anon_client):
    """/ answers the page: its scripts and styles are files of this service, nothing inline, nothing from elsewhere."""
    page = anon_client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == STRICT_CSP
    assert page.headers["cache-control"] == "no-cache"
    html = page.text
    assert re.search(r"<script[^>]*>\s*[^<\s]", html) is None  # no inline script
    assert "<style" not in html and "style=" not in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith(("/", "#")) for source in sources)


def test_the_console_files_are_served_versioned_and_cached_for_long(anon_client):
    """Every file the page names loads; under the current version it is kept a year, under another not at all."""
    html = anon_client.get("/").text
    files = re.findall(r'"(/console/[^"]+)"', html)
    assert any(path.endswith("app.js") for path in files)
    for path in files:
        answer = anon_client.get(path)
        assert answer.status_code == 200, path
        assert "max-age=31536000" in answer.headers["cache-control"]
    module = anon_client.get(f"/console/{console_version()}/app.js")
    assert module.headers["content-type"].startswith("text/javascript")
    # Modules import each other relatively: they resolve under the same version.
    assert "from './api.js'" in module.text
    stale = anon_client.get("/console/000000000000/app.js")
    assert stale.status_code == 200 and "max-age=0" in stale.headers["cache-control"]
    assert anon_client.get(f"/console/{console_version()}/nothing.js").status_code == 404
    assert anon_client.get(f"/console/{console_version()}/../../app.py").status_code == 404


def test_no_console_file_writes_html_or_reads_storage():
    """Data reaches the page as text only, and no token is ever put where page scripts keep things."""
    for path in CONSOLE_DIR.glob("*.js"):
        code = path.read_text()
        assert "innerHTML" not in code and "insertAdjacentHTML" not in code, path.name
        assert "localStorage" not in code and "sessionStorage" not in code, path.name
        # The only cookie a script touches is the hint (no secret), read and removed in api.js.
        touched = code.count("document.cookie")
        assert touched == (2 if path.name == "api.js" else 0), path.name
        assert "document.cookie =" not in code or "signed_in=; Path=/; Max-Age=0" in code, path.name
