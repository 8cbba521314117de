"""Import jobs: small files are imported while the client waits, larger ones in the background; each job is
a record that shows its progress and, at the end, its report."""

import csv
import io
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from itertools import islice
from pathlib import Path

from sqlalchemy import select, tuple_, update

from config import Settings
from models import ImportJob, ImportRowError, db
from models.types import utcnow
from services.activity import record_activity
from services.context import current_principal
from services.customer_export import spreadsheet_text
from services.database import by_public_id
from services.errors import InvalidInput, TooLarge
from services.imports import RowError, Totals, import_customers, read_rows
from services.tokens import new_secret

log = logging.getLogger(__name__)
ERROR_BATCH = 5000  # row errors written to or read from import_row_errors at a time
ERRORS_CSV_HEADER = ("line", "field", "message", "value")
# Live counts (and share of the file read) of the jobs running in this process.
_running: dict[str, tuple[Totals, float]] = {}
_running_lock = threading.Lock()


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
        if next(rows, None) is None and totals.stopped_at is None:
            raise InvalidInput.single("file", "has a header row but no data rows")


def start_import(
    path: Path,
    size: int,
    *,
    filename: str | None,
    mode: str,
    on_conflict: str,
    settings: Settings,
    app_context: Callable[[], AbstractContextManager],
) -> ImportJob:
    """Record a job and run it: inline when the file is small (IMPORT_SYNC_MAX_BYTES), else in a background thread.

    The thread runs the job inside `app_context()` (the app's database session), with these `settings`.
    """
    check_header(path)
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
    )
    db.session.add(job)
    record_activity("import.started", f"import:{job.id}", mode=mode, bytes=size)
    db.session.commit()
    if size <= settings.import_sync_max_bytes:
        return run_job(job.id, path, settings)
    work = (app_context, job.id, path, settings)
    threading.Thread(target=_run_in_background, args=work, daemon=True, name=f"import-{job.id}").start()
    return job


def _run_in_background(
    app_context: Callable[[], AbstractContextManager], job_id: str, path: Path, settings: Settings
) -> None:
    with app_context():
        try:
            run_job(job_id, path, settings)
        finally:
            db.session.remove()


def run_job(job_id: str, path: Path, settings: Settings) -> ImportJob:
    """Import the spooled file of a job and store its report and every row error."""
    errors_path = path.with_name(path.name + ".errors.csv")
    try:
        with ErrorFile(errors_path) as sink:
            totals, status, detail = _import(job_id, path, sink, settings)
        return _finish(job_id, totals, status, detail, errors_path)
    finally:
        errors_path.unlink(missing_ok=True)
        path.unlink(missing_ok=True)


def _import(job_id: str, path: Path, sink: "ErrorFile", settings: Settings) -> tuple[Totals, str, str | None]:
    """Run the import of a job: its counts, its final status and why it failed."""
    job = job_from_id(job_id)
    mode, on_conflict, size = job.mode, job.on_conflict, max(job.size_bytes, 1)
    job.status = "running"
    db.session.commit()
    totals = Totals(max_errors=settings.import_report_max_errors, sink=sink)
    detail, stream = None, None
    with _running_lock:
        _running[job_id] = (totals, 0.0)

    def progress(current: Totals) -> None:
        done = min(stream.tell() / size, 1.0) if stream is not None and not stream.closed else 1.0
        with _running_lock:
            _running[job_id] = (current, round(done, 4))

    try:
        with open(path, "rb") as stream:
            import_customers(
                stream, mode=mode, on_conflict=on_conflict, settings=settings, progress=progress, totals=totals
            )
        failed = totals.stopped_at is not None or (mode == "atomic" and totals.rejected > 0)
        if totals.stopped_at:
            detail = f"Reading stopped at {totals.stopped_at}."
        elif failed:
            detail = f"Nothing was stored: {totals.rejected} rows were refused."
    except InvalidInput as exc:
        db.session.rollback()
        failed, detail = True, "; ".join(f"{e.field} {e.message}" for e in exc.errors)
    except Exception:
        db.session.rollback()
        log.exception("import %s failed", job_id)
        failed, detail = True, "The import failed on an unexpected error; the rows counted as created are stored."
    finally:
        with _running_lock:
            _running.pop(job_id, None)
    return totals, "failed" if failed else "succeeded", detail


def _finish(job_id: str, totals: Totals, status: str, detail: str | None, errors_path: Path) -> ImportJob:
    job = job_from_id(job_id)
    store_errors(job.pk, errors_path)
    job.status, job.detail, job.finished_at = status, detail, utcnow()
    job.rows_read, job.created, job.updated, job.rejected = (
        totals.rows_read,
        totals.created,
        totals.updated,
        totals.rejected,
    )
    job.errors = [e.as_dict() for e in totals.errors]
    job.error_counts = totals.counts()
    record_activity("import.finished", f"import:{job.id}", status=status, created=job.created, rejected=job.rejected)
    db.session.commit()
    return job


class ErrorFile:
    """Every row error of a running job, appended to a CSV file beside its upload (memory stays flat)."""

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
        rows = (_stored_error(job_pk, cells) for cells in csv.reader(handle))
        while batch := list(islice(rows, ERROR_BATCH)):
            db.session.execute(ImportRowError.__table__.insert(), batch)
            db.session.commit()  # locks and the SQLite write-ahead log stay small


def _stored_error(job_pk: int, cells: list[str]) -> dict:
    line, field, message, has_value, value = cells
    # A cell may hold NUL, which PostgreSQL text cannot.
    value = value.replace("\x00", "\ufffd") if has_value == "1" else None
    return {
        "import_pk": job_pk,
        "line": int(line),
        "field": field,
        "message": message.replace("\x00", "\ufffd"),
        "value": value,
    }


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


def live_totals(job_id: str) -> tuple[Totals, float] | None:
    """The counts so far of a job running in this process, and the share of its file read (0..1)."""
    with _running_lock:
        return _running.get(job_id)


def mark_interrupted_jobs() -> int:
    """At start-up: jobs left queued or running by a stopped process are failed, keeping what was stored."""
    interrupted = db.session.execute(
        update(ImportJob)
        .where(ImportJob.status.in_(("queued", "running")))
        .values(
            status="failed",
            finished_at=utcnow(),
            detail="Interrupted by a restart; in best-effort mode the batches written before it are stored.",
        )
    ).rowcount
    db.session.commit()
    return interrupted
