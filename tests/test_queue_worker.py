"""The fleet's worker, `flask --app app queue worker`: it runs what web processes with QUEUE_EMBEDDED=false queue,
and what a killed worker held is found again by housekeeping."""

import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from app import create_app
from models import ErpSale, OutgoingMail, db
from services import mail, tasks
from tests.api.test_cashback_queue import ScriptedPartner, wait_until
from tests.conftest import ERP_SALE, free_port

BASE_DIR = Path(__file__).resolve().parent.parent


def start_worker(environment: dict) -> subprocess.Popen:
    command = [sys.executable, "-m", "flask", "--app", "app", "queue", "worker", "--workers", "1"]
    return subprocess.Popen(command, cwd=BASE_DIR, env=environment, stdout=subprocess.DEVNULL)


def stored(service, model, **where):
    """The one row of `model` with these column values, as stored now."""
    with service.app.app_context():
        row = db.session.scalars(db.select(model).filter_by(**where)).one()
        db.session.expunge(row)
        return row


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
        held = stored(web, ErpSale, id=sale["id"])
        assert (held.attempts, held.last_error) == (2, None)  # taken by the dead worker, its answer never kept
        partner.release()

        with web.app.app_context():
            assert wait_until(lambda: tasks.housekeeping()["sales"], 20, "the lapse of the hold") == [sale["id"]]
        worker = start_worker(environment)
        sent = wait_until(
            lambda: (s := stored(web, ErpSale, id=sale["id"])).status == "sent" and s, 15, "the new attempt"
        )
        assert sent.attempts == 3
        assert [key for _, key in partner.received] == [sale["id"]] * 3

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
    finally:
        worker.kill()
        worker.wait(10)
        partner.close()


class StallingSMTP:
    """An SMTP server that accepts connections and never answers, until it is closed."""

    def __init__(self):
        self.port = free_port()
        self.listener = socket.create_server(("127.0.0.1", self.port))
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


@pytest.mark.subprocess
def test_a_mail_whose_worker_was_killed_while_delivering_it_is_delivered_once_by_another(
    settings, smtp_server, mailbox, tmp_path
):
    """The worker is SIGKILLed while the mail server has not answered: the mail stays queued, held by the dead
    worker; once that hold lapses (SMTP_TIMEOUT + 5 s), housekeeping queues it again and the next worker
    delivers it, once."""
    stalling = StallingSMTP()
    fleet = {
        "QUEUE_URL": f"sqlite:///{tmp_path / 'fleet-queue.db'}",
        "QUEUE_EMBEDDED": "false",
        "SMTP_TIMEOUT": "2",
        "AUTO_MIGRATE": "false",
    }
    environment = {**os.environ, **{name: str(value) for name, value in {**settings, **fleet}.items()}}
    web = create_app({**settings, **fleet})
    worker = start_worker({**environment, "SMTP_PORT": str(stalling.port)})
    address = f"stalled-{uuid.uuid4().hex[:8]}@example.com"
    try:
        with web.app.app_context():
            mail.send_mail(address, "Stalled", "the link")
        wait_until(lambda: stalling.connections, 15, "the worker's connection to the mail server")
        worker.kill()
        worker.wait(10)
        held = stored(web, OutgoingMail, recipient=address)
        assert (held.status, held.attempts, held.body) == ("queued", 0, "the link")
        assert held.lease_expires_at is not None

        worker = start_worker({**environment, "SMTP_PORT": str(smtp_server[1])})
        with web.app.app_context():
            wait_until(lambda: tasks.housekeeping() and mailbox.to(address), 20, "the delivery by the next worker")
        sent = wait_until(
            lambda: (m := stored(web, OutgoingMail, recipient=address)).status == "sent" and m,
            10,
            "the mail marked sent",
        )
        assert (sent.attempts, sent.body) == (1, None)
        assert len(mailbox.to(address)) == 1
        assert len(stalling.connections) == 1
    finally:
        worker.kill()
        worker.wait(10)
        stalling.close()
