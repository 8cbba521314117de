"""Representation of an import job: its report, with the first row errors and counts of all of them."""

from models import ImportJob
from schemas.common import timestamp
from services.imports import Totals


def import_report(job: ImportJob, live: Totals | None = None, share_read: float = 0.0) -> dict:
    """A job's report; `live` is the counts so far of a job running in this process, `share_read` how far it got."""
    counts = live or job
    return {
        "id": job.id,
        "status": job.status,
        "mode": job.mode,
        "on_conflict": job.on_conflict,
        "filename": job.filename,
        "rows_read": counts.rows_read,
        "created": counts.created,
        "updated": counts.updated,
        "rejected": counts.rejected,
        "progress": 1.0 if job.status in ("succeeded", "failed") else share_read,
        "detail": job.detail,
        **error_summary(job, live),
        "created_at": timestamp(job.created_at),
        "finished_at": timestamp(job.finished_at),
    }


def error_summary(job: ImportJob, live: Totals | None) -> dict:
    """The report's errors: the first ones by line, counts per field and message, and whether more exist."""
    if live is None:
        total = sum(count["count"] for count in job.error_counts)
        return {"errors": job.errors, "error_counts": job.error_counts, "errors_truncated": total > len(job.errors)}
    total = live.errors_total  # read before the list: the import thread may add to both meanwhile
    errors = [e.as_dict() for e in list(live.errors)]
    return {"errors": errors, "error_counts": live.counts(), "errors_truncated": total > len(errors)}
