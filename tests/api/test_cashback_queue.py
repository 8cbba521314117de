"""Partner forwarding through the queue: a deadline on the whole call, automatic retries with backoff up to a cap,
and one attempt at a time per sale."""

import json
import logging
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services import cashback
from services.settings import current_settings
from tests.conftest import ERP_SALE as SALE
from tests.services.test_mail_request_id import JSONLines


class ScriptedPartner:
    """A real HTTP server on 127.0.0.1 playing the partner: each request takes the next step of its plan, then
    "created" once the plan is used up. Steps: "created" (201), "error" (500), "drip" (a 201 whose body comes one
    byte a second), "drip-headers" (the same, from its status line on), "hang" (no answer until release())."""

    def __init__(self, *plan: str):
        self.plan = list(plan)
        self.received: list[tuple[dict, str | None]] = []  # each body, with its Idempotency-Key
        self._lock = threading.Lock()
        self._released = threading.Event()
        partner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with partner._lock:
                    partner.received.append((body, self.headers.get("Idempotency-Key")))
                    number, step = len(partner.received), partner.plan.pop(0) if partner.plan else "created"
                if step == "hang":
                    partner._released.wait(30)
                if step == "drip-headers":
                    partner.drip(self.wfile, b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}")
                    return
                created = {"id": number, "message": "Cashback criado com sucesso!", "createdAt": "2026-11-22T10:00:00Z"}
                answer = json.dumps({"error": "boom"} if step == "error" else created).encode()
                self.send_response(500 if step == "error" else 201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                piece = 1 if step == "drip" else len(answer)
                try:
                    for start in range(0, len(answer), piece):
                        self.wfile.write(answer[start : start + piece])
                        self.wfile.flush()
                        if step == "drip":
                            partner._released.wait(1)
                except OSError:
                    pass  # the client gave up

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/cashback"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def drip(self, stream, data: bytes) -> None:
        """Write `data` a byte a second until it is written, the client gives up or release()."""
        try:
            for byte in data:
                stream.write(bytes([byte]))
                stream.flush()
                if self._released.wait(1):
                    return
        except OSError:
            pass  # the client gave up

    def release(self) -> None:
        """Let a hanging answer go."""
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


def wait_until(condition, timeout: float = 20, what: str = "the condition"):
    """Poll until `condition()` is truthy (its value), for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{what} did not come true within {timeout} s")


def sale_when(client, sale_id: str, condition) -> dict:
    """The sale (GET /api/cashback/{id}) once `condition(sale)` holds."""

    def current():
        sale = client.get(f"/api/cashback/{sale_id}").json()
        return sale if condition(sale) else None

    return wait_until(current, what=f"sale {sale_id}")


def partner_settings(use_settings, partner: ScriptedPartner, **changes) -> None:
    defaults = {"cashback_api_timeout": Decimal(5), "cashback_api_deadline": Decimal(2), "cashback_retry_delay": 1}
    use_settings(cashback_api_url=partner.url, **{**defaults, **changes})


@pytest.mark.parametrize("drip", ["drip", "drip-headers"])
def test_a_dripping_partner_is_cut_off_at_the_deadline_and_the_sale_sent_by_an_automatic_retry(
    erp, client, bruna, use_settings, drip
):
    """The ERP's answer does not wait for a partner dripping its answer (its body, or its status line and headers,
    at a byte a second): the attempt fails at the 2 s deadline, and the queue sends the sale again a second later,
    with the same key."""
    partner = ScriptedPartner(drip)
    try:
        partner_settings(use_settings, partner)
        started = time.monotonic()
        answer = erp.post("/api/cashback", json=SALE)
        assert time.monotonic() - started < 20  # bounded, not hung
        assert answer.status_code == 201, answer.text
        sale = answer.json()
        assert (sale["status"], sale["attempts"]) == ("failed", 1)
        assert "deadline" in sale["last_error"]
        sent = sale_when(client, sale["id"], lambda s: s["status"] == "sent")
        assert (sent["attempts"], sent["last_error"], sent["partner"]["id"]) == (2, None, 2)
        assert partner.received == [({"document": "52998224725", "cashback": "1.40"}, sale["id"])] * 2
    finally:
        partner.close()


@pytest.fixture
def cashback_log():
    """The JSON lines of services.cashback during the test."""
    logger = logging.getLogger("services.cashback")
    handler = JSONLines()
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def test_a_sale_the_partner_keeps_refusing_is_failed_after_the_last_attempt_and_may_be_retried_by_hand(
    erp, client, bruna, use_settings, cashback_log
):
    """Three attempts in all (one in the request, two queued, 1 s then 2 s later), then nothing more is tried
    until staff retry it. The queued attempts log with the id of the ERP's request."""
    partner = ScriptedPartner("error", "error", "error")
    try:
        partner_settings(use_settings, partner, cashback_forward_attempts=3)
        sale = erp.post("/api/cashback", json=SALE, headers={"X-Request-ID": "erp-sale-3"}).json()
        assert (sale["status"], sale["attempts"]) == ("failed", 1)
        given_up = sale_when(client, sale["id"], lambda s: s["attempts"] == 3 and s["last_error"])
        assert given_up["status"] == "failed"
        assert given_up["last_error"].startswith("HTTP 500")
        assert len(partner.received) == 3
        failures = [line["request_id"] for line in cashback_log.lines if "not forwarded" in line["message"]]
        assert failures == ["erp-sale-3"] * 3
        retried = client.post(f"/api/cashback/{sale['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert (retried.json()["status"], retried.json()["attempts"]) == ("sent", 4)
    finally:
        partner.close()


def test_a_sale_being_sent_is_not_sent_again_meanwhile(app, erp, client, bruna, use_settings):
    """While the request's attempt waits on the partner, neither a queued attempt nor staff's retry sends it."""
    partner = ScriptedPartner("hang")
    try:
        partner_settings(use_settings, partner, cashback_api_deadline=Decimal(20), cashback_api_timeout=Decimal(20))
        answers = []
        posting = threading.Thread(target=lambda: answers.append(erp.post("/api/cashback", json=SALE)))
        posting.start()
        wait_until(lambda: partner.received, what="the partner's first request")
        sale_id = partner.received[0][1]
        retried = client.post(f"/api/cashback/{sale_id}/retry")
        assert retried.status_code == 422
        assert "right now" in retried.json()["detail"]
        with app.app.app_context():
            settings = current_settings()
            for automatic in (True, False):
                assert cashback.forward(sale_id, settings, automatic=automatic).status == "not_forwarded"
        assert len(partner.received) == 1
        partner.release()
        posting.join(20)
        assert (answers[0].json()["status"], answers[0].json()["attempts"]) == ("sent", 1)
    finally:
        partner.close()
