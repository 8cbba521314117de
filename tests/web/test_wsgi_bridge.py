"""The bridge to Flask: an answer comes back whole in one message, or streamed once it outgrows the buffer."""

import asyncio
import contextvars
import threading

import pytest

from web.wsgi_bridge import BUFFER_LIMIT, WSGIBridge

request_label: contextvars.ContextVar[str] = contextvars.ContextVar("request_label", default="none")


def serve(bridge: WSGIBridge, method: str = "GET", body: bytes = b"") -> list[dict]:
    """Every ASGI message the bridge sends for one request."""
    scope = {
        "type": "http",
        "method": method,
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-length", str(len(body)).encode())],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "scheme": "http",
    }
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    async def run():
        request_label.set("from the loop")
        await bridge(scope, receive, send)

    asyncio.run(run())
    return sent


def wsgi_answer(chunks, status="200 OK"):
    def app(environ, start_response):
        start_response(status, [("Content-Type", "text/plain"), ("X-Label", request_label.get())])
        return iter(chunks)

    return app


def test_a_small_answer_is_one_start_and_one_body():
    """Status, headers and the whole body, sent once the handler is done."""
    sent = serve(WSGIBridge(wsgi_answer([b"hello ", b"world"], "201 Created"), threads=2))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 201
    assert (b"x-label", b"from the loop") in sent[0]["headers"]  # the request's context reaches the thread
    assert sent[1]["body"] == b"hello world"
    assert sent[1]["more_body"] is False


def test_a_large_answer_is_streamed_whole_and_in_order():
    """Past the buffer, chunks go out as they are made; nothing is lost or reordered."""
    chunks = [bytes([65 + n % 26]) * 65536 for n in range(3 * BUFFER_LIMIT // 65536)]
    sent = serve(WSGIBridge(wsgi_answer(chunks), threads=2))
    assert sent[0]["type"] == "http.response.start"
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert len(bodies) > 2
    assert all(m["more_body"] for m in bodies[:-1]) and bodies[-1]["more_body"] is False
    assert b"".join(m["body"] for m in bodies) == b"".join(chunks)


def test_the_request_body_reaches_the_handler():
    """A POST body is read by the handler in its thread."""

    def echo(environ, start_response):
        data = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Length", str(len(data)))])
        return [data]

    assert serve(WSGIBridge(echo, threads=2), "POST", b"x" * 100_000)[1]["body"] == b"x" * 100_000


def test_the_handler_runs_off_the_event_loop():
    """The loop keeps serving while a handler works: the handler runs in one of the bridge's threads."""
    seen = []

    def where(environ, start_response):
        seen.append(threading.current_thread().name)
        start_response("204 No Content", [])
        return []

    serve(WSGIBridge(where, threads=2))
    assert seen[0].startswith("wsgi")


def test_an_error_in_the_handler_reaches_the_error_middleware():
    """An exception is raised to the ASGI stack (where ServerErrorMiddleware answers 500), not swallowed."""

    def broken(environ, start_response):
        raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        serve(WSGIBridge(broken, threads=2))


def test_the_body_iterable_is_closed():
    """WSGI's close() is called on the answer, as servers must (Flask tears its request down there)."""
    closed = []

    class Body(list):
        def close(self):
            closed.append(True)

    def app(environ, start_response):
        start_response("200 OK", [])
        return Body([b"ok"])

    serve(WSGIBridge(app, threads=2))
    assert closed == [True]
