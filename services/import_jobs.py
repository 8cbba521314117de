"""Import jobs: each import is a record of what was asked, how far it got and, at the end, its report.

Small files are imported while the client waits; larger ones are queued (services.tasks) and run by a queue worker,
in this process or another one: the upload waits in IMPORT_DIR, which every worker reads. A worker holds a job by
a lease it renews while it works. A job whose lease lapsed (its worker died) is claimed again: in best-effort mode
it goes on after its last committed batch, in atomic mode it runs again from the start (the database rolled the
dead worker's transaction back).
"""

import contextvars
import csv
import io
import logging
import os
import socket
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from sqlalchemy import and_, delete, or_, select, tuple_, update
from sqlalchemy.exc import SQLAlchemyError

from config import Settings
from models import ImportJob, ImportRowError, db
from models.types import utcnow
from services.activity import record_activity
from services.context import current_principal
from services.customer_export import spreadsheet_text
from services.database import by_public_id
from services.errors import Conflict, InvalidInput, TooLarge, Unavailable
from services.imports import COUNTS, Position, RowError, Totals, import_customers, read_rows
from services.settings import current_settings
from services.tokens import new_secret

log = logging.getLogger(__name__)
ERROR_BATCH = 5000  # row errors written to or read from import_row_errors at a time
ERRORS_CSV_HEADER = ("line", "field", "message", "value")
UNFINISHED = ("queued", "running")
STRAY_UPLOAD_AGE = 24 * 3600  # seconds: an upload no job names is removed after this (its request died)


class JobStopped(Exception):
    """The job was cancelled, or another worker holds it now: this worker stops and keeps nothing uncommitted."""


def spool(stream, limit: int, directory: Path) -> tuple[Path, int]:
    """Copy an upload to a file in `directory` (IMPORT_DIR; never whole in memory); past `limit` bytes it is refused."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(dir=directory, suffix=".csv", delete=False)  # noqa: SIM115
    size = 0
    with handle:
        while chunk := stream.read(1024 * 1024):
            size += len(chunk)
            if size > limit:
                handle.close()
                os.unlink(handle.name)
                raise TooLarge(f"The file is larger than the limit of {limit} bytes (MAX_IMPORT_BYTES).")
            handle.write(chunk)
    return Path(handle.name), size


def check_header(path: Path) -> None:
    """Refuse a file whose header is missing or unknown, or that has no rows, before anything is queued."""
    with open(path, "rb") as stream:
        totals = Totals()
        _, rows = read_rows(stream, totals)
        if next(iter(rows), None) is None and totals.stopped_at is None:
            raise InvalidInput.single("file", "has a header row but no data rows")


def upload_path(directory: Path, job_id: str) -> Path:
    """Where the upload of a job waits until the job ends."""
    return directory / f"{job_id}.csv"


def _errors_path(upload: Path) -> Path:
    return upload.with_name(upload.name + ".errors.csv")


def start_import(path: Path, size: int, *, filename: str | None, mode: str, on_conflict: str) -> ImportJob:
    """Record a job for a spooled upload and run it: at once when the file is small (IMPORT_SYNC_MAX_BYTES), else
    through the queue."""
    check_header(path)
    settings = current_settings()
    principal = current_principal()
    job = ImportJob(
        id=new_secret(12),
        status="queued",
        mode=mode,
        on_conflict=on_conflict,
        filename=filename,
        size_bytes=size,
        errors=[],
        actor=principal.label if principal else None,
        lease_expires_at=_queued_until(settings),
    )
    db.session.add(job)
    record_activity("import.started", f"import:{job.id}", mode=mode, bytes=size)
    db.session.commit()
    path.replace(upload_path(settings.import_dir, job.id))
    if runs_while_waiting(size):
        run_job(job.id)
        return by_public_id(ImportJob, job.id, "import", fresh=True)
    _enqueue(job)
    return job


def runs_while_waiting(size: int) -> bool:
    """An upload of this size is imported while the client waits (IMPORT_SYNC_MAX_BYTES); a larger one is queued."""
    return size <= current_settings().import_sync_max_bytes


def _enqueue(job: ImportJob) -> None:
    """Hand the job to the queue; when the queue cannot take it the job fails at once and its upload goes."""
    from services import tasks  # imported here: services.tasks imports this module for its import task

    try:
        tasks.enqueue_import(job.id)
    except Unavailable:
        db.session.execute(
            update(ImportJob)
            .where(ImportJob.pk == job.pk)
            .values(status="failed", finished_at=utcnow(), detail="The import could not be queued.")
        )
        db.session.commit()
        _remove_files(job.id)
        raise


def run_job(job_id: str) -> None:
    """Claim the job by its lease and run it, or go on with it, to its end; nothing when another worker holds it
    or it has ended. Its upload is removed once it has ended, whatever the ending."""
    settings = current_settings()
    lease = _claim(job_id, settings.import_lease_seconds)
    if lease is None:
        return
    stopped = False
    with lease:
        try:
            _run(job_from_id(job_id), lease, settings)
        except JobStopped:
            db.session.rollback()
            stopped = True
    if stopped and by_public_id(ImportJob, job_id, "import", fresh=True).status in UNFINISHED:
        return  # another worker holds it now, and its upload
    _remove_files(job_id)


def _run(job: ImportJob, lease: "Lease", settings: Settings) -> None:
    upload = upload_path(settings.import_dir, job.id)
    if not upload.exists():
        lease.store({}, ending=("failed", "The uploaded file is no longer there (IMPORT_DIR); import it again."))
        db.session.commit()
    elif job.mode == "atomic":
        _run_atomic(job, upload, lease, settings)
    else:
        _run_best_effort(job, upload, lease, settings)


class Lease:
    """This worker's hold on a job: renewed with each batch (the job's row is updated only by its holder) and, from a
    thread of its own, every third of IMPORT_LEASE_SECONDS, so that a slow batch keeps it."""

    def __init__(self, job_pk: int, job_id: str, holder: str, seconds: int):
        self.job_pk, self.job_id, self.holder, self.seconds = job_pk, job_id, holder, seconds
        self.lost = False
        self.progress: dict = {}  # how far an atomic import read, shown before its one commit
        self._engine = db.engine
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._beat,), daemon=True)

    def __enter__(self) -> "Lease":
        self._thread.start()
        return self

    def __exit__(self, error_type, *_) -> None:
        if error_type is not None:
            db.session.rollback()  # the renewing thread may be waiting for a lock this session holds
        self._stopping.set()
        self._thread.join()

    def _held(self):
        return update(ImportJob).where(
            ImportJob.pk == self.job_pk, ImportJob.lease_holder == self.holder, ImportJob.status == "running"
        )

    def store(self, values: dict, ending: tuple[str, str | None] | None = None) -> None:
        """In the session's transaction: update the job and renew the lease, or end the job (status, detail)."""
        values = {**values, "lease_expires_at": utcnow() + timedelta(seconds=self.seconds)}
        if ending is not None:
            status, detail = ending
            values.update(status=status, detail=detail, finished_at=utcnow(), lease_holder=None, lease_expires_at=None)
        if not db.session.execute(self._held().values(**values)).rowcount:
            raise JobStopped
        if ending is not None:
            stored = db.session.execute(
                select(ImportJob.created, ImportJob.rejected).where(ImportJob.pk == self.job_pk)
            ).one()
            record_activity(
                "import.finished",
                f"import:{self.job_id}",
                status=status,
                created=stored.created,
                rejected=stored.rejected,
            )

    def check(self) -> None:
        """JobStopped when the last renewal found the job cancelled or held by another worker."""
        if self.lost:
            raise JobStopped

    def _beat(self) -> None:
        while not self._stopping.wait(self.seconds / 3):
            try:
                with self._engine.begin() as connection:
                    renewed = connection.execute(
                        self._held().values(
                            lease_expires_at=utcnow() + timedelta(seconds=self.seconds), **self.progress
                        )
                    ).rowcount
            except SQLAlchemyError as exc:
                log.warning("could not renew the lease of import %s: %s", self.job_id, exc)
                continue
            if not renewed:
                self.lost = True
                return


def _claim(job_id: str, seconds: int) -> Lease | None:
    """Take the job when it is queued or its lease lapsed, with one conditional UPDATE: of two workers, one wins."""
    now = utcnow()
    holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{new_secret(6)}"
    lapsed = and_(ImportJob.status == "running", ImportJob.lease_expires_at < now)
    claimed = db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id, or_(ImportJob.status == "queued", lapsed))
        .values(status="running", lease_holder=holder, lease_expires_at=now + timedelta(seconds=seconds))
    ).rowcount
    if not claimed:
        db.session.rollback()
        return None
    job = by_public_id(ImportJob, job_id, "import", fresh=True)
    lease = Lease(job.pk, job.id, holder, seconds)
    if job.mode == "atomic":  # it runs from the start again: nothing of an earlier run stayed
        db.session.execute(delete(ImportRowError).where(ImportRowError.import_pk == job.pk))
        db.session.execute(
            update(ImportJob)
            .where(ImportJob.pk == job.pk)
            .values(
                rows_read=0, created=0, updated=0, rejected=0, errors=[], error_counts=[], next_line=0, bytes_read=0
            )
        )
    db.session.commit()
    return lease


def _run_best_effort(job: ImportJob, upload: Path, lease: Lease, settings: Settings) -> None:
    """Import from the last committed batch on; each batch commits its rows, row errors, counts and position."""
    held: list[RowError] = []
    totals = _totals_so_far(job, settings.import_report_max_errors, held.append)
    start = Position(job.next_line, job.bytes_read) if job.next_line else None

    def on_batch(current: Totals, position: Position, final: bool) -> None:
        _insert_errors(job.pk, held)
        held.clear()
        values = {**_counts(current), "next_line": position.line, "bytes_read": position.offset}
        lease.store(values, ending=_outcome(current) if final else None)

    failure = _import_file(job, upload, settings, totals, start, on_batch)
    if failure is not None:
        lease.store({}, ending=("failed", f"{failure} The batches stored before it stay."))
        db.session.commit()


def _run_atomic(job: ImportJob, upload: Path, lease: Lease, settings: Settings) -> None:
    """Import in one transaction that commits with the report, or store nothing and report every row error."""
    errors_path = _errors_path(upload)
    with ErrorFile(errors_path) as sink:
        totals = Totals(max_errors=settings.import_report_max_errors, sink=sink)

        def on_batch(current: Totals, position: Position, final: bool) -> None:
            if final:
                lease.store({**_counts(current), "bytes_read": position.offset}, ending=("succeeded", None))
                return
            lease.check()
            lease.progress = {
                "rows_read": current.rows_read,
                "rejected": current.rejected,
                "bytes_read": position.offset,
            }

        failure = _import_file(job, upload, settings, totals, None, on_batch)
    if failure is None and not (totals.rejected or totals.stopped_at):
        return
    store_errors(job.pk, errors_path)
    if failure is None:
        failure = _outcome(totals)[1] or f"Nothing was stored: {totals.rejected} rows were refused."
    lease.store({**_counts(totals), "created": 0, "updated": 0}, ending=("failed", failure))
    db.session.commit()


def _import_file(job: ImportJob, upload: Path, settings: Settings, totals: Totals, start, on_batch) -> str | None:
    """Run the import of the upload; why it failed, if it did (JobStopped goes through)."""
    try:
        with open(upload, "rb") as stream:
            import_customers(
                stream,
                mode=job.mode,
                on_conflict=job.on_conflict,
                settings=settings,
                totals=totals,
                start=start,
                on_batch=on_batch,
            )
    except JobStopped:
        raise
    except InvalidInput as exc:
        db.session.rollback()
        return "; ".join(f"{e.field} {e.message}" for e in exc.errors)
    except Exception:  # noqa: BLE001 - the job fails and says so; the traceback goes to the log
        db.session.rollback()
        log.exception("import %s failed", job.id)
        return "The import failed on an unexpected error."
    return None


def _outcome(totals: Totals) -> tuple[str, str | None]:
    """How a file read to its end (or to a line that could not be read) ends: status and detail."""
    if totals.stopped_at:
        return "failed", f"Reading stopped at {totals.stopped_at}."
    return "succeeded", None


def _counts(totals: Totals) -> dict:
    """The report's figures of the totals, as the job's columns."""
    figures = {name: getattr(totals, name) for name in COUNTS}
    return {**figures, "errors": [e.as_dict() for e in totals.errors], "error_counts": totals.counts()}


def _totals_so_far(job: ImportJob, max_errors: int, sink) -> Totals:
    """The totals as the job's last committed batch left them (all zero for a job that has not started)."""
    counts = Counter({(c["field"], c["message"]): c["count"] for c in job.error_counts})
    return Totals(
        rows_read=job.rows_read,
        created=job.created,
        updated=job.updated,
        rejected=job.rejected,
        max_errors=max_errors,
        sink=sink,
        errors=[RowError(**error) for error in job.errors],
        error_counts=counts,
        errors_total=sum(counts.values()),
    )


def _remove_files(job_id: str) -> None:
    """The upload of an ended job and its spooled row errors."""
    upload = upload_path(current_settings().import_dir, job_id)
    _errors_path(upload).unlink(missing_ok=True)
    upload.unlink(missing_ok=True)


def _queued_until(settings: Settings) -> datetime:
    """A queued job no worker claimed by then lost its task: housekeeping queues it again."""
    return utcnow() + timedelta(seconds=settings.import_lease_seconds)


def resume_stale_jobs() -> list[str]:
    """Jobs whose lease lapsed: running ones (their worker died) and queued ones no worker claimed (their task was
    lost), queued and claimable again; their ids, to be queued again."""
    stale = db.session.scalars(
        update(ImportJob)
        .where(ImportJob.status.in_(UNFINISHED), ImportJob.lease_expires_at < utcnow())
        .values(status="queued", lease_holder=None, lease_expires_at=_queued_until(current_settings()))
        .returning(ImportJob.id)
    ).all()
    db.session.commit()
    return list(stale)


def remove_stray_uploads() -> int:
    """Remove the uploads in IMPORT_DIR older than a day that no job names (their request died before recording
    its job); how many went."""
    directory = current_settings().import_dir
    cutoff = time.time() - STRAY_UPLOAD_AGE
    old = [path for path in directory.glob("*.csv") if path.stat().st_mtime < cutoff] if directory.is_dir() else []
    named = {path: path.name.partition(".")[0] for path in old}
    jobs = set(db.session.scalars(select(ImportJob.id).where(ImportJob.id.in_(set(named.values())))))
    stray = [path for path, job_id in named.items() if job_id not in jobs]
    for path in stray:
        path.unlink(missing_ok=True)
    return len(stray)


def cancel_job(job_id: str) -> ImportJob:
    """Stop a queued or running import: best-effort batches already stored stay, atomic mode keeps nothing.

    The worker running it notices at its next batch (or lease renewal) and stops. Conflict once it has ended.
    """
    job = job_from_id(job_id)
    values = {"status": "cancelled", "finished_at": utcnow(), "lease_holder": None, "lease_expires_at": None}
    if job.mode == "atomic":
        values.update(created=0, updated=0, detail="Cancelled: nothing was stored.")
    else:
        values["detail"] = "Cancelled: the batches stored before it stay."
    cancelled = db.session.execute(
        update(ImportJob).where(ImportJob.pk == job.pk, ImportJob.status.in_(UNFINISHED)).values(**values)
    ).rowcount
    if not cancelled:
        db.session.rollback()
        status = job_from_id(job_id).status
        raise Conflict("status", f"The import has already ended ({status}).", message=f"is already {status}")
    record_activity("import.cancelled", f"import:{job.id}", mode=job.mode)
    db.session.commit()
    _remove_files(job.id)
    return by_public_id(ImportJob, job_id, "import", fresh=True)


class ErrorFile:
    """Every row error of an atomic import, appended to a CSV file beside its upload (memory stays flat)."""

    # A file, not the session: atomic mode rolls the import's transaction back, and the list must outlive it.
    def __init__(self, path: Path):
        self._handle = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 - closed by __exit__
        self._writer = csv.writer(self._handle)

    def __enter__(self) -> "ErrorFile":
        return self

    def __exit__(self, *exc_info) -> None:
        self._handle.close()

    def __call__(self, error: RowError) -> None:
        has_value = error.value is not None
        self._writer.writerow((error.line, error.field, error.message, int(has_value), error.value or ""))


def store_errors(job_pk: int, path: Path) -> None:
    """Copy the row errors spooled by ErrorFile into import_row_errors, a batch (and a commit) at a time."""
    with open(path, newline="", encoding="utf-8") as handle:
        errors = (_spooled_error(cells) for cells in csv.reader(handle))
        while batch := list(islice(errors, ERROR_BATCH)):
            _insert_errors(job_pk, batch)
            db.session.commit()  # locks and the SQLite write-ahead log stay small


def _spooled_error(cells: list[str]) -> RowError:
    line, field, message, has_value, value = cells
    return RowError(int(line), field, message, value if has_value == "1" else None)


def _insert_errors(job_pk: int, errors: list[RowError]) -> None:
    """Add row errors of a job to import_row_errors, in the session's transaction."""
    if not errors:
        return
    rows = [
        {
            "import_pk": job_pk,
            "line": error.line,
            "field": error.field,
            # A cell may hold NUL, which PostgreSQL text cannot.
            "message": error.message.replace("\x00", "\ufffd"),
            "value": None if error.value is None else error.value.replace("\x00", "\ufffd"),
        }
        for error in errors
    ]
    db.session.execute(ImportRowError.__table__.insert(), rows)


def error_lines(job_pk: int) -> Iterator[str]:
    """CSV text: the header, then every row error of a job by line, read a keyset batch at a time."""
    table = ImportRowError.__table__.c
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ERRORS_CSV_HEADER)
    after = (0, 0)
    while True:
        rows = db.session.execute(
            select(table.line, table.pk, table.field, table.message, table.value)
            .where(table.import_pk == job_pk, tuple_(table.line, table.pk) > tuple_(*after))
            .order_by(table.line, table.pk)
            .limit(ERROR_BATCH)
        ).all()
        writer.writerows(
            (row.line, row.field, spreadsheet_text(row.message), spreadsheet_text(row.value or "")) for row in rows
        )
        yield buffer.getvalue()
        if len(rows) < ERROR_BATCH:
            return
        buffer.seek(0)
        buffer.truncate()
        after = (rows[-1].line, rows[-1].pk)


def job_from_id(job_id: str) -> ImportJob:
    """The job with this public id."""
    return by_public_id(ImportJob, job_id, "import")
