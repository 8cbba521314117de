"""Representation of an import job: its report, with the first row errors and counts of all of them."""

from models import ImportJob
from schemas.common import timestamp
from services.imports import COUNTS


def import_report(job: ImportJob) -> dict:
    """A job's report, as stored with its last committed batch (the same answer from every worker)."""
    return {
        "id": job.id,
        "status": job.status,
        "mode": job.mode,
        "on_conflict": job.on_conflict,
        "filename": job.filename,
        **{name: getattr(job, name) for name in COUNTS},
        "progress": share_read(job),
        "detail": job.detail,
        **error_summary(job),
        "created_at": timestamp(job.created_at),
        "finished_at": timestamp(job.finished_at),
    }


def share_read(job: ImportJob) -> float:
    """How much of the file was read (0..1): 1 once the job succeeded or failed."""
    if job.status in ("succeeded", "failed"):
        return 1.0
    return round(min(job.bytes_read / max(job.size_bytes, 1), 1.0), 4)


def error_summary(job: ImportJob) -> dict:
    """The report's errors: the first ones by line, counts per field and message, and whether more exist."""
    total = sum(count["count"] for count in job.error_counts)
    return {"errors": job.errors, "error_counts": job.error_counts, "errors_truncated": total > len(job.errors)}
