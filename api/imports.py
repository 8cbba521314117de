"""Bulk import and export of customers (staff)."""

from flask import Response, request, stream_with_context

from api.responses import json_response
from schemas.imports import import_report
from services import import_jobs
from services.customer_export import export_rows
from services.customers import CustomerFilters
from services.errors import InvalidInput
from services.settings import current_settings


def import_customers(mode="best_effort", on_conflict="reject"):
    """Import a CSV of customers: the report at once for small files, else 202 and a job to follow."""
    upload = _uploaded_file() if request.mimetype == "multipart/form-data" else None
    stream = upload.stream if upload is not None else request.stream
    settings = current_settings()
    path, size = import_jobs.spool(stream, settings.max_import_bytes, settings.import_dir)
    try:
        job = import_jobs.start_import(
            path, size, filename=upload.filename if upload else None, mode=mode, on_conflict=on_conflict
        )
    except InvalidInput:
        path.unlink(missing_ok=True)
        raise
    location = {"Location": f"/api/imports/{job.id}"}
    status = 200 if import_jobs.runs_while_waiting(size) else 202
    return json_response(import_report(job), status, location)


def _uploaded_file():
    """The form's `file`; a body that is not a readable multipart form is refused as such."""
    upload = request.files.get("file")
    if request.form_error:
        raise InvalidInput.single("body", f"is not a readable multipart form ({request.form_error})")
    if upload is None:
        raise InvalidInput.single("file", "is required (a CSV file in the form field 'file')")
    return upload


def get_import(import_id):
    """An import's status, counts and rejected rows."""
    return json_response(import_report(import_jobs.job_from_id(import_id)))


def cancel_import(import_id):
    """Stop a queued or running import; its report as it stands."""
    return json_response(import_report(import_jobs.cancel_job(import_id)))


def get_import_errors(import_id):
    """Every row error of an import as CSV, in line order, streamed."""
    job = import_jobs.job_from_id(import_id)
    body = stream_with_context(import_jobs.error_lines(job.pk))
    disposition = f'attachment; filename="import-{job.id}-errors.csv"'
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": disposition})


def export_customers(account_id=None, phone_number=None, client_member_id=None, email=None, document=None, q=None):
    """Every matching customer as CSV, streamed."""
    filters = CustomerFilters(account_id, phone_number, client_member_id, email, document, q)
    rows = export_rows(filters, current_settings().default_phone_region)
    first = next(rows)  # a bad filter is refused here, before the answer starts
    body = stream_with_context(_chain(first, rows))
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": 'attachment; filename="customers.csv"'})


def _chain(first: str, rest):
    yield first
    yield from rest
