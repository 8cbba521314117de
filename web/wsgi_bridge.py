"""The bridge from the ASGI server to Flask: each request runs in a worker thread, in one hop.

Connexion's default bridge (a2wsgi) blocks the worker thread on the event loop for the status line and
again for every body chunk. Here the thread runs the whole WSGI call and hands back the answer; only an
answer larger than BUFFER_LIMIT (an export) is sent as it is produced, chunk by chunk.
"""

import asyncio
import contextvars
import functools
from concurrent.futures import ThreadPoolExecutor

from a2wsgi.wsgi import Body, build_environ

BUFFER_LIMIT = 256 * 1024  # bytes of answer kept in the thread before it is sent as a stream
# Requests of one worker process handled at once (as Connexion's own bridge): each holds at most one database
# connection, so DATABASE_POOL_SIZE (10) covers them without opening overflow connections.
HANDLER_THREADS = 10


class _Answer:
    """The WSGI answer as the worker thread builds it; streamed (sent at once) past BUFFER_LIMIT."""

    def __init__(self, loop: asyncio.AbstractEventLoop, send):
        self.loop, self.send = loop, send
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.streaming = False

    def start_response(self, status: str, headers, exc_info=None):
        """WSGI start_response: remember the status and headers (sent with the body)."""
        if exc_info is not None and self.streaming:
            raise exc_info[1].with_traceback(exc_info[2])
        self.status = int(status.split(" ", 1)[0])
        self.headers = [
            (name.strip().lower().encode("latin1"), value.strip().encode("latin1")) for name, value in headers
        ]
        return self.write

    def write(self, chunk: bytes) -> None:
        """Add a chunk of the body; past BUFFER_LIMIT, everything so far goes out and the rest follows as it comes."""
        if not chunk:
            return
        if self.streaming:
            self._send_now({"type": "http.response.body", "body": chunk, "more_body": True})
            return
        self.chunks.append(chunk)
        self.size += len(chunk)
        if self.size > BUFFER_LIMIT:
            self.streaming = True
            self._send_now({"type": "http.response.start", "status": self.status, "headers": self.headers})
            self._send_now({"type": "http.response.body", "body": b"".join(self.chunks), "more_body": True})
            self.chunks = []

    def _send_now(self, message: dict) -> None:
        # From the worker thread: wait until the loop has sent it, so a slow client slows the producer.
        asyncio.run_coroutine_threadsafe(self.send(message), self.loop).result()


class WSGIBridge:
    """An ASGI app that serves a WSGI app (Flask) from a pool of `threads` worker threads."""

    def __init__(self, wsgi_app, threads: int):
        self.wsgi_app = wsgi_app
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wsgi")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":  # the app's own lifespan runs in Connexion's LifespanMiddleware
            await _answer_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        loop = asyncio.get_running_loop()
        answer = _Answer(loop, send)
        environ = build_environ(scope, Body(loop, receive))
        # The thread sees the request's context variables (Connexion's operation and token, the request id).
        call = functools.partial(contextvars.copy_context().run, self._run, environ, answer)
        await loop.run_in_executor(self.executor, call)
        if answer.streaming:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": b"".join(answer.chunks), "more_body": False})

    def _run(self, environ: dict, answer: _Answer) -> None:
        body = self.wsgi_app(environ, answer.start_response)
        try:
            for chunk in body:
                answer.write(chunk)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()


async def _answer_lifespan(receive, send) -> None:
    for phase in ("startup", "shutdown"):
        message = await receive()
        if message["type"] != f"lifespan.{phase}":
            return
        await send({"type": f"lifespan.{phase}.complete"})
