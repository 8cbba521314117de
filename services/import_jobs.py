"""Import jobs: small files are imported while the client waits, larger ones in the background; each job is
a record that shows its progress and, at the end, its report."""

import logging
import os
import tempfile
import threading
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select, update

from models import ImportJob, db
from models.types import utcnow
from services.activity import record_activity
from services.context import current_principal
from services.errors import InvalidInput, NotFound, TooLarge
from services.imports import Totals, import_customers, read_rows
from services.tokens import new_secret

log = logging.getLogger(__name__)
# Live counts (and share of the file read) of the jobs running in this process.
_running: dict[str, tuple[Totals, float]] = {}
_running_lock = threading.Lock()


def spool(stream, limit: int) -> tuple[Path, int]:
    """Copy an upload to a file under IMPORT_DIR (never whole in memory); past `limit` bytes it is refused."""
    directory = Path(current_app.config["IMPORT_DIR"])
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


def start_import(path: Path, size: int, *, filename: str | None, mode: str, on_conflict: str) -> ImportJob:
    """Record a job and run it: inline when the file is small, else in a background thread."""
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
    if size <= current_app.config["IMPORT_SYNC_MAX_BYTES"]:
        return run_job(job.id, path)
    app = current_app._get_current_object()
    threading.Thread(target=_run_in_background, args=(app, job.id, path), daemon=True, name=f"import-{job.id}").start()
    return job


def _run_in_background(app: Flask, job_id: str, path: Path) -> None:
    with app.app_context():
        try:
            run_job(job_id, path)
        finally:
            db.session.remove()


def run_job(job_id: str, path: Path) -> ImportJob:
    """Import the spooled file of a job and store its report."""
    job = job_from_id(job_id)
    mode, on_conflict = job.mode, job.on_conflict
    job.status = "running"
    db.session.commit()
    totals, detail = Totals(), None

    size = max(job.size_bytes, 1)
    stream = None

    def progress(current: Totals) -> None:
        nonlocal totals
        totals = current
        done = min(stream.tell() / size, 1.0) if stream is not None and not stream.closed else 1.0
        with _running_lock:
            _running[job_id] = (current, round(done, 4))

    try:
        with open(path, "rb") as stream:
            totals = import_customers(stream, mode=mode, on_conflict=on_conflict, progress=progress)
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
        path.unlink(missing_ok=True)
    return _finish(job_id, totals, "failed" if failed else "succeeded", detail)


def _finish(job_id: str, totals: Totals, status: str, detail: str | None) -> ImportJob:
    job = job_from_id(job_id)
    job.status, job.detail, job.finished_at = status, detail, utcnow()
    job.rows_read, job.created, job.updated, job.rejected = (
        totals.rows_read,
        totals.created,
        totals.updated,
        totals.rejected,
    )
    job.errors = [e.as_dict() for e in totals.errors]
    record_activity("import.finished", f"import:{job.id}", status=status, created=job.created, rejected=job.rejected)
    db.session.commit()
    return job


def job_from_id(job_id: str) -> ImportJob:
    """The job with this public id."""
    job = db.session.scalars(select(ImportJob).where(ImportJob.id == job_id)).first()
    if job is None:
        raise NotFound(f"No import {job_id!r}.")
    return job


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
