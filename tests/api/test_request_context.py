"""Request ids: kept or generated, echoed on every answer, present in every log line of the request."""

import io
import json
import logging

import pytest

from api.request_context import JSONFormatter


def test_valid_incoming_request_id_is_kept(client):
    """A well-formed X-Request-ID comes back unchanged."""
    response = client.get("/api/health", headers={"X-Request-ID": "order-42.retry_1"})
    assert response.headers["x-request-id"] == "order-42.retry_1"


@pytest.mark.parametrize("incoming", ["has space", "x" * 129, "semi;colon", "a/b"])
def test_invalid_incoming_request_id_is_replaced(client, incoming):
    """An X-Request-ID outside 1-128 of [A-Za-z0-9._-] is replaced by a generated one."""
    response = client.get("/api/health", headers={"X-Request-ID": incoming})
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert 1 <= len(generated) <= 128


def test_each_request_gets_its_own_id(client):
    """Without X-Request-ID every answer carries a different generated id."""
    ids = {client.get("/api/health").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_problem_body_carries_the_request_id(client):
    """Error answers repeat the request id in their body."""
    response = client.get("/api/customers/nobody", headers={"X-Request-ID": "trace-me"})
    assert response.status_code == 404
    assert response.json()["request_id"] == "trace-me"


@pytest.fixture
def json_log():
    """Capture INFO log lines in the JSON format while a test runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def test_log_lines_are_json_with_the_request_id(client, json_log):
    """The access line of a request is one JSON object carrying its id, method, path and status."""
    client.get("/api/customers/nobody", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    lines = [line for line in lines if line["logger"] != "httpx"]  # the test client's own lines
    access = [line for line in lines if line["logger"] == "customer_interface.access"]
    assert access, lines
    assert access[-1]["request_id"] == "log-me"
    assert access[-1]["method"] == "GET"
    assert access[-1]["path"] == "/api/customers/nobody"
    assert access[-1]["status"] == 404
    assert all(line["request_id"] == "log-me" for line in lines)
