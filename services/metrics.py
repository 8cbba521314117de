"""Prometheus metrics: what the service counts as it works, and the text a scrape of /metrics reads.

Each process counts in its own memory; with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it for its
workers, a `queue worker` started with the same value joins them) each process writes its counts to files
there, and a scrape of any one worker adds up the files of all. Import jobs and ERP sales by status and the
queue's backlog are read when scraped; a family whose source does not answer is left out of that scrape.
"""

import functools
import hmac
import logging
import os

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from models import ErpSale, ImportJob, db
from services import tasks
from services.errors import NotFound, Unauthenticated

log = logging.getLogger(__name__)
MULTIPROC_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# The classic text format, which every Prometheus version reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# Any other method a client writes is counted as "other": a label must not take whatever a client sends.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The label of requests no operation of the API matched (pages, static files, unknown paths).
UNMATCHED = "unmatched"
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
# A sale's forward to the partner: not yet (or no partner), sent, failed (every automatic attempt used).
SALE_STATUSES = ("not_forwarded", "sent", "failed")

if os.environ.get(MULTIPROC_DIR_VARIABLE):
    # prometheus_client writes there from the first count on: the directory must exist.
    os.makedirs(os.environ[MULTIPROC_DIR_VARIABLE], exist_ok=True)

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by OpenAPI operation, method and status",
    ["operation", "method", "status"],
)
DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer HTTP requests, by OpenAPI operation and method",
    ["operation", "method"],
)
FORWARDS = Counter(
    "cashback_forwards", "Attempts to forward a sale's cashback to the partner, by how they ended", ["outcome"]
)
REFUSALS = Counter("rate_limit_refusals", "Attempts refused with 429 by a rate limit, by limit", ["limit"])


def record_request(operation: str | None, method: str, status: int, seconds: float) -> None:
    """Count one answered request under its operation (or UNMATCHED), never under its path."""
    operation = operation or UNMATCHED
    method = method if method in METHODS else "other"
    count, duration = _request_series(operation, method, status)
    count.inc()
    duration.observe(seconds)


@functools.lru_cache(maxsize=4096)
def _request_series(operation: str, method: str, status: int):
    # Labels come from the spec's operations, the known methods and statuses: a bounded set, each looked up once.
    return REQUESTS.labels(operation, method, str(status)), DURATION.labels(operation, method)


def record_forward(outcome: str) -> None:
    """Count one forwarding attempt that ended: sent, retry (another attempt is queued) or failed (none is)."""
    FORWARDS.labels(outcome).inc()


def record_refusal(limit: str) -> None:
    """Count one attempt a rate limit refused."""
    REFUSALS.labels(limit).inc()


def authorize_scrape(authorization: str | None, token: str, production: bool) -> None:
    """Let a scrape through: with METRICS_TOKEN set, only with `Bearer <token>`; without it, outside production only."""
    if not token:
        if production:
            # Counts of operations and jobs are not for the public: a production opts in by setting a token.
            raise NotFound("There is nothing at this address.")
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthenticated("The metrics need the bearer token METRICS_TOKEN.")


def exposition(queue_url: str) -> bytes:
    """The text of a scrape: every process's counts, then import jobs by status and the queue's backlog."""
    return generate_latest(_counts_registry()) + generate_latest(_state_registry(queue_url))


def _counts_registry() -> CollectorRegistry:
    """The counts of every worker process when they share a directory; this process's own otherwise."""
    if not os.environ.get(MULTIPROC_DIR_VARIABLE):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


def _state_registry(queue_url: str) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StateCollector(queue_url))
    return registry


class _StateCollector:
    """Families read at scrape time, each left out when its source does not answer."""

    def __init__(self, queue_url: str):
        self.queue_url = queue_url

    def collect(self):
        # Read from the database, so exact for the whole fleet, whichever process did the work.
        for name, described, model, statuses in (
            ("import_jobs", "Import jobs by status", ImportJob, JOB_STATUSES),
            ("erp_sales", "ERP sales by the state of their forward to the partner", ErpSale, SALE_STATUSES),
        ):
            counts = counts_by_status(model)
            if counts is not None:
                family = GaugeMetricFamily(name, described, labels=["status"])
                for status in statuses:
                    family.add_metric([status], counts.get(status, 0))
                yield family
        backlog = queue_backlog(self.queue_url)
        if backlog is not None:
            pending, scheduled = backlog
            yield GaugeMetricFamily("queue_tasks_pending", "Tasks waiting for a queue worker", value=pending)
            yield GaugeMetricFamily(
                "queue_tasks_scheduled", "Tasks waiting for their time (retries of mail and forwards)", value=scheduled
            )


def counts_by_status(model) -> dict[str, int] | None:
    """How many rows of `model` (import jobs, sales) are in each status; None when the database does not answer."""
    try:
        rows = db.session.execute(select(model.status, func.count()).group_by(model.status)).all()
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        reason = " ".join(str(error).split())[:300]
        log.warning("metrics: %s left out, the database does not answer: %s", model.__tablename__, reason)
        return None
    return {status: count for status, count in rows}


def queue_backlog(queue_url: str) -> tuple[int, int] | None:
    """Tasks pending and tasks scheduled for later in the queue's storage; None when it does not answer."""
    try:
        huey = tasks.queue_for(queue_url).huey
        return huey.pending_count(), huey.scheduled_count()
    except tasks.QUEUE_DOWN as error:
        log.warning("metrics: the queue's backlog left out, its storage does not answer: %s", error)
        return None
