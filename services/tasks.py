"""Background work on a task queue (huey): mail delivery, partner forwarding with its retries, import jobs and
housekeeping.

The queue's storage is QUEUE_URL: a SQLite file on one machine (the web processes run the workers themselves,
QUEUE_EMBEDDED), Redis when several machines share the work (`flask --app app queue worker`). Tasks carry ids and
plain values only, and what they do is recorded in the database, so work lost with a killed worker is found again
by housekeeping. A task runs in an app context of the process running it (the consumer is handed the app's
`app_context`: services never import flask) with the request id of the request that queued it.
"""

import functools
import logging
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer, Worker
from redis import ConnectionPool, RedisError
from sqlalchemy import delete

from config import Settings
from models import IdempotencyKey, OneTimeToken, RefreshToken, UserSession, db
from models.types import utcnow
from services.context import current_request_id, request_id_var
from services.errors import NotFound, Unavailable
from services.settings import current_settings

log = logging.getLogger(__name__)
QUEUE_NAME = "customer-interface"
# What a queue storage that cannot be reached raises: the SQLite file, the Redis server, the network.
QUEUE_DOWN = (sqlite3.Error, RedisError, OSError)
REDIS_TIMEOUT = 3  # seconds to connect to Redis and for one answer, so a Redis outage is an error, not a hang
# An idle worker looks at the queue at least this often (seconds), for tasks other processes queued in a SQLite
# queue (those of its own process wake it at once; Redis wakes it itself).
IDLE_POLL_MAX = 1.0
# At shutdown, running tasks get this long (seconds) to finish; one still running is found again by housekeeping.
SHUTDOWN_WAIT = 20
# Expired records housekeeping deletes, refresh tokens before the sessions they belong to.
EXPIRING = (IdempotencyKey, OneTimeToken, RefreshToken, UserSession)


def _carrying_request_id(task: Callable) -> Callable:
    """The task, run with the request id of the request that queued it, so its log lines name that request."""

    @functools.wraps(task)
    def run(*args, request_id: str | None = None, **kwargs):
        token = request_id_var.set(request_id)
        try:
            return task(*args, **kwargs)
        finally:
            request_id_var.reset(token)

    return run


# The services a task runs import this module to queue their work: each task imports its service when it runs.


def deliver_mail(mail_pk: int) -> None:
    """Attempt the delivery of a recorded mail (nothing when it is sent, given up, not due or held)."""
    from services import mail

    mail.deliver(mail_pk)


def forward_sale(sale_id: str) -> None:
    """Forward a sale whose automatic attempt is due (nothing when it is sent, being sent, or not due yet)."""
    from services import cashback

    try:
        cashback.forward(sale_id, current_settings(), automatic=True)
    except NotFound:
        log.info("sale %s no longer exists: nothing to forward", sale_id)


def run_import(job_id: str) -> None:
    """Run (or resume) an import job."""
    from services import import_jobs

    import_jobs.run_job(job_id)


def housekeeping() -> dict[str, int | list[str] | list[int] | None]:
    """One round: delete what expired, queue again the mail, sales and imports whose task was lost.

    Every step is a conditional DELETE or UPDATE in a short transaction of its own, so several consumers may
    run it at once; a step that fails is logged and the others still run. Answers what each step did.
    """
    done: dict[str, int | list[str] | list[int] | None] = {
        model.__tablename__: _step(_delete_expired, model) for model in EXPIRING
    }
    done["mail"] = _step(_queue_due_mail)
    done["outgoing_mail"] = _step(_delete_old_mail)
    done["sales"] = _step(_queue_due_sales)
    done["imports"] = _step(_resume_imports)
    done["uploads"] = _step(_remove_stray_uploads)
    return done


def _step(step: Callable, *args):
    try:
        result = step(*args)
        db.session.commit()
        return result
    except Exception:  # noqa: BLE001 - a periodic round goes on with its other steps; the failure is logged
        db.session.rollback()
        log.exception("housekeeping step %s failed", getattr(step, "__name__", step))
        return None


def _delete_expired(model) -> int:
    return db.session.execute(
        delete(model).where(model.expires_at <= utcnow()).execution_options(synchronize_session=False)
    ).rowcount


def _queue_due_mail() -> list[int]:
    from services import mail

    due = mail.due_mail_pks()
    for mail_pk in due:
        enqueue_mail(mail_pk)
    return due


def _delete_old_mail() -> int:
    from services import mail

    return mail.delete_old_mail()


def _queue_due_sales() -> list[str]:
    from services import cashback

    due = cashback.due_sale_ids(current_settings())
    for sale_id in due:
        enqueue_forward(sale_id)
    return due


def _resume_imports() -> list[str]:
    from services import import_jobs

    resumed = import_jobs.resume_stale_jobs()
    db.session.commit()  # claimable before a worker may take them
    for job_id in resumed:
        enqueue_import(job_id)
    return resumed


def _remove_stray_uploads() -> int:
    from services import import_jobs

    return import_jobs.remove_stray_uploads()


# Each task: its function and huey's options for it.
TASKS: dict[str, tuple[Callable, dict]] = {
    "deliver_mail": (deliver_mail, {}),
    "forward_sale": (forward_sale, {}),
    "run_import": (run_import, {}),
}


class Queue:
    """One queue storage (a QUEUE_URL) with this service's tasks registered on it."""

    def __init__(self, url: str):
        self.huey = _huey(url)
        self.tasks = {
            name: self.huey.task(name=name, **options)(_carrying_request_id(function))
            for name, (function, options) in TASKS.items()
        }
        self.huey.periodic_task(crontab(), name="housekeeping")(_carrying_request_id(housekeeping))


def _huey(url: str) -> Huey:
    """huey on the storage QUEUE_URL names (config.py accepts sqlite:///path, redis:// and rediss://)."""
    if url.startswith("sqlite:///"):
        filename = Path(url.removeprefix("sqlite:///"))
        filename.parent.mkdir(parents=True, exist_ok=True)  # the default, instance/queue.db, in a fresh checkout
        return SqliteHuey(QUEUE_NAME, filename=str(filename), results=False)
    pool = ConnectionPool.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT)
    return RedisHuey(QUEUE_NAME, connection_pool=pool, results=False)


_queues: dict[str, Queue] = {}
_queues_lock = threading.Lock()
# Set when this process queues a task: its idle workers look at the queue at once, not at their next poll.
_work_queued = threading.Event()


def queue_for(url: str) -> Queue:
    """The queue of this QUEUE_URL, built on first use and then kept (tests and tools build several apps)."""
    with _queues_lock:
        if url not in _queues:
            _queues[url] = Queue(url)
        return _queues[url]


def _enqueue(name: str, *args, delay: float = 0) -> None:
    """Queue the task `name` with these plain values, carrying the current request id."""
    url = current_settings().queue_url
    try:
        queue_for(url).tasks[name].schedule(args, {"request_id": current_request_id()}, delay=delay)
    except QUEUE_DOWN as exc:
        log.warning("could not queue %s: %s", name, exc)
        raise Unavailable("The task queue cannot be reached; try again in a moment.") from exc
    _work_queued.set()


def enqueue_mail(mail_pk: int, delay: float = 0) -> None:
    """Queue an attempt to deliver a recorded mail (committed by the caller), `delay` seconds from now."""
    _enqueue("deliver_mail", mail_pk, delay=delay)


def enqueue_forward(sale_id: str, delay: float = 0) -> None:
    """Queue an automatic forwarding attempt of a sale, `delay` seconds from now."""
    _enqueue("forward_sale", sale_id, delay=delay)


def enqueue_import(job_id: str) -> None:
    """Queue an import job (recorded and committed by the caller)."""
    _enqueue("run_import", job_id)


def queue_health() -> str:
    """The queue storage takes a write: "ok"; raises when it cannot be reached (within seconds for Redis)."""
    queue_for(current_settings().queue_url).huey.put("health", utcnow().isoformat())
    return "ok"


class _AppWorker(Worker):
    """A worker thread that runs each task in an app context of this process."""

    def __init__(self, app_context: Callable[[], AbstractContextManager], **options):
        super().__init__(**options)
        self.app_context = app_context

    def loop(self, now=None):
        with self.app_context():
            super().loop(now)

    def sleep(self) -> None:
        """Wait until the next look at the queue, cut short when this process queues a task meanwhile."""
        if _work_queued.wait(min(self.delay, self.max_delay)):
            _work_queued.clear()
            self.delay = self.default_delay
        else:
            self.delay *= self.backoff


class QueueConsumer(Consumer):
    """huey's consumer, its workers running tasks in app contexts of this process."""

    def __init__(self, huey: Huey, app_context: Callable[[], AbstractContextManager], **options):
        self.app_context = app_context
        super().__init__(huey, max_delay=IDLE_POLL_MAX, shutdown_timeout=SHUTDOWN_WAIT, **options)

    def _create_worker(self) -> Worker:
        return _AppWorker(
            self.app_context,
            huey=self.huey,
            stop_flag=self.stop_flag,
            default_delay=self.default_delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            max_tasks=self.max_tasks,
        )


class EmbeddedConsumer(QueueConsumer):
    """The consumer a web process runs beside serving: the server keeps its own SIGTERM and SIGINT handling."""

    def _set_signal_handlers(self) -> None:
        pass  # huey would take the server's signals (and fails off the main thread)


def start_embedded(settings: Settings, app_context: Callable[[], AbstractContextManager]) -> EmbeddedConsumer:
    """Start QUEUE_WORKERS worker threads (and the scheduler of delayed and periodic tasks) in this process."""
    consumer = EmbeddedConsumer(queue_for(settings.queue_url).huey, app_context, workers=settings.queue_workers)
    consumer.start()
    return consumer


def stop_embedded(consumer: EmbeddedConsumer) -> None:
    """Stop taking tasks; wait up to SHUTDOWN_WAIT seconds for the running ones."""
    consumer.stop(graceful=True)


def run_worker(settings: Settings, app_context: Callable[[], AbstractContextManager], workers: int) -> None:
    """Run `workers` worker threads in the foreground until SIGTERM (running tasks get SHUTDOWN_WAIT seconds to
    finish) or SIGINT (stops at once)."""
    huey = queue_for(settings.queue_url).huey
    QueueConsumer(huey, app_context, workers=workers, graceful_signal="TERM").run()
