"""Hostile input answers a problem, never a 500 or a traceback: deep JSON, newlines in paths, broken multipart."""

import logging
import re

import pytest

from api.validation import MAX_JSON_DEPTH
from tests.api.test_errors import assert_problem

METHODS = ("get", "put", "post", "patch", "delete")
NESTING = "must not nest arrays or objects more than 64 levels deep"


def nested(depth: int, shape: str) -> str:
    """JSON of arrays or objects nested `depth` levels deep."""
    if shape == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def assert_nothing_logged(caplog):
    """No error and no traceback reached the log."""
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR or record.exc_info]
    assert "Traceback" not in caplog.text


def post_json(http, path: str, body: str):
    return http.post(path, content=body, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("shape", ["array", "object"])
@pytest.mark.parametrize("depth", [300, 1000, 5000])
def test_deep_json_is_400_on_body_for_anyone(anon_client, client, caplog, depth, shape):
    """JSON nested hundreds or thousands of levels deep is a 400 on `body`, anonymous or signed in, logged quietly."""
    for http, path in ((anon_client, "/api/auth/login"), (client, "/api/customers")):
        assert_problem(post_json(http, path, nested(depth, shape)), 400, "body")
    assert_nothing_logged(caplog)


@pytest.mark.parametrize("shape", ["array", "object"])
def test_deep_json_names_the_nesting_limit(client, shape):
    """Past the limit (and below orjson's own), the answer says the body nests too deeply."""
    body = assert_problem(post_json(client, "/api/customers", nested(MAX_JSON_DEPTH + 1, shape)), 400, "body")
    assert body["errors"] == [{"field": "body", "message": NESTING}]


def test_json_at_the_nesting_limit_is_validated_as_usual(client):
    """A body exactly at the limit reaches schema validation, which names the offending field."""
    value = nested(MAX_JSON_DEPTH - 1, "array")
    body = assert_problem(post_json(client, "/api/customers", f'{{"email": {value}}}'), 400, "email")
    assert NESTING not in str(body)


def spec_paths_with_parameters(spec: dict):
    """(method, path template) of every operation whose path has a {parameter}."""
    for template, item in spec["paths"].items():
        if "{" in template:
            yield from ((method.upper(), template) for method in METHODS if method in item)


@pytest.mark.parametrize("value", ["a%0Ab", "ab%0A", "%0A"])
def test_a_newline_in_any_path_parameter_is_404(app, anon_client, client, caplog, value):
    """Every operation with a path parameter answers 404 problem+json to a newline in it, signed in or not."""
    spec = anon_client.get("/api/openapi.json").json()
    operations = list(spec_paths_with_parameters(spec))
    assert len(operations) > 10
    for method, template in operations:
        path = "/api" + re.sub(r"\{[^}]+\}", value, template)
        for http in (anon_client, client):
            response = http.request(method, path, headers={"If-Match": '"x"'})
            assert response.status_code == 404, (method, path, response.text)
            assert_problem(response, 404)
    assert_nothing_logged(caplog)


BOUNDARY = "XyZ"
GOOD_FORM = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="file"; filename="a.csv"\r\n'
    b"Content-Type: text/csv\r\n\r\n"
    b"email\r\nann@example.com\r\n"
    b"--XyZ--\r\n"
)
MALFORMED_FORMS = {
    "no boundary parameter": ("multipart/form-data", GOOD_FORM),
    "empty boundary": ("multipart/form-data; boundary=", GOOD_FORM),
    "another boundary": ("multipart/form-data; boundary=Other", GOOD_FORM),
    "boundary with a space": ('multipart/form-data; boundary="X yZ"', GOOD_FORM),
    "truncated in the file": ("multipart/form-data; boundary=XyZ", GOOD_FORM[:-12]),
    "truncated in the part headers": ("multipart/form-data; boundary=XyZ", GOOD_FORM[:30]),
    "no closing boundary": ("multipart/form-data; boundary=XyZ", GOOD_FORM.replace(b"--XyZ--\r\n", b"")),
    "garbage": ("multipart/form-data; boundary=XyZ", b"\x00\xff not a form at all " * 40),
    "empty body": ("multipart/form-data; boundary=XyZ", b""),
    "part without disposition": ("multipart/form-data; boundary=XyZ", b"--XyZ\r\nX: y\r\n\r\nz\r\n--XyZ--\r\n"),
    "part header not UTF-8": ("multipart/form-data; boundary=XyZ", GOOD_FORM.replace(b"a.csv", b"\xe9\xff.csv")),
}


@pytest.mark.parametrize("case", MALFORMED_FORMS)
def test_a_malformed_multipart_import_is_400_on_body(client, caplog, case):
    """Any multipart body that cannot be read is a 400 naming `body` (not "file is required"), never a 500."""
    content_type, content = MALFORMED_FORMS[case]
    response = client.post("/api/customers/import", content=content, headers={"Content-Type": content_type})
    body = assert_problem(response, 400, "body")
    assert body["errors"][0]["message"].startswith("is not a readable multipart form")
    assert_nothing_logged(caplog)


def test_a_form_without_the_file_is_400_on_file(client):
    """A well-formed form that lacks the `file` field names `file`."""
    form = GOOD_FORM.replace(b'name="file"', b'name="other"')
    response = client.post(
        "/api/customers/import", content=form, headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert_problem(response, 400, "file")


def test_a_large_multipart_upload_still_streams_to_disk(client, monkeypatch):
    """A well-formed upload past werkzeug's in-memory size reaches the import as a file on disk, and imports."""
    from services import import_jobs

    on_disk = []
    spool = import_jobs.spool

    def spool_and_look(stream, limit, directory):
        # Werkzeug keeps a part in a SpooledTemporaryFile, moved to disk past 500 KB.
        on_disk.append(stream._rolled)
        return spool(stream, limit, directory)

    monkeypatch.setattr(import_jobs, "spool", spool_and_look)
    rows = "".join(f"member{n}@example.com\n" for n in range(30_000))  # about 720 KB
    response = client.post("/api/customers/import", files={"file": ("big.csv", "email\n" + rows, "text/csv")})
    assert response.status_code in (200, 202), response.text
    assert response.json()["rejected"] == 0
    assert on_disk == [True]


def test_a_page_form_with_a_malformed_multipart_body_still_answers_its_page(anon_client):
    """The account pages read forms as before: a broken multipart body is a spent link, not an error."""
    response = anon_client.post(
        "/verify", content=b"garbage", headers={"Content-Type": "multipart/form-data; boundary=XyZ"}
    )
    assert response.status_code == 400
    assert "text/html" in response.headers["content-type"]
    assert "Link not valid" in response.text
