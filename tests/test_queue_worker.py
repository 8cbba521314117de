"""The fleet's worker, `flask --app app queue worker`: it runs what web processes with QUEUE_EMBEDDED=false queue,
and what a killed worker held is found again by housekeeping."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from app import create_app
from models import ErpSale, db
from services import tasks
from tests.api.test_cashback_queue import ScriptedPartner, wait_until
from tests.conftest import ERP_SALE

BASE_DIR = Path(__file__).resolve().parent.parent


def start_worker(environment: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "flask", "--app", "app", "queue", "worker", "--workers", "1"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=environment, stdout=subprocess.DEVNULL)


def stored_sale(service, sale_id: str) -> ErpSale:
    with service.app.app_context():
        sale = db.session.scalars(db.select(ErpSale).where(ErpSale.id == sale_id)).one()
        db.session.expunge(sale)
        return sale


@pytest.mark.subprocess
def test_the_worker_runs_queued_work_and_a_forward_it_held_when_killed_is_found_again(
    app, settings, erp, bruna, mailbox, tmp_path
):
    """The web app only queues. The worker delivers a mail and takes the sale's queued retry; SIGKILLed while
    the partner has not answered, it leaves the sale held; once that hold lapses, housekeeping queues the sale
    again and the next worker sends it. SIGTERM stops a worker cleanly."""
    partner = ScriptedPartner("error", "hang")  # the request's attempt fails; the worker's gets no answer
    fleet = {
        "QUEUE_URL": f"sqlite:///{tmp_path / 'fleet-queue.db'}",
        "QUEUE_EMBEDDED": "false",
        "CASHBACK_API_URL": partner.url,
        "CASHBACK_API_TIMEOUT": "1",
        "CASHBACK_API_DEADLINE": "1",
        "CASHBACK_RETRY_DELAY": "1",
        "AUTO_MIGRATE": "false",
    }
    environment = {**os.environ, **{name: str(value) for name, value in {**settings, **fleet}.items()}}
    web = create_app({**settings, **fleet})
    http = web.test_client()
    http.headers.update({"X-API-Key": erp.headers["X-API-Key"]})
    worker = start_worker(environment)
    try:
        address = f"fleet-{uuid.uuid4().hex[:8]}@example.com"
        assert http.post("/api/auth/signup", json={"email": address, "password": "x" * 16}).status_code == 202
        sale = http.post("/api/cashback", json=ERP_SALE).json()
        assert (sale["status"], sale["attempts"]) == ("failed", 1)
        assert "Confirm" in mailbox.wait_for(address, timeout=15)["Subject"]
        wait_until(lambda: len(partner.received) == 2, 15, "the worker's attempt")

        worker.kill()
        worker.wait(10)
        held = stored_sale(web, sale["id"])
        assert (held.attempts, held.last_error) == (2, None)  # taken by the dead worker, its answer never kept
        partner.release()

        with web.app.app_context():
            assert wait_until(lambda: tasks.housekeeping()["sales"], 20, "the lapse of the hold") == [sale["id"]]
        worker = start_worker(environment)
        sent = wait_until(lambda: (s := stored_sale(web, sale["id"])).status == "sent" and s, 15, "the new attempt")
        assert sent.attempts == 3
        assert [key for _, key in partner.received] == [sale["id"]] * 3

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.wait(10)
        partner.close()
