"""Prometheus metrics of the service, in the text exposition format."""

from flask import Response, request

from services.metrics import CONTENT_TYPE, authorize_scrape, exposition
from services.settings import current_settings


def metrics():
    """Every process's counts, import jobs by status and the queue's backlog (METRICS_TOKEN: bearer only)."""
    settings = current_settings()
    authorize_scrape(request.headers.get("Authorization"), settings.metrics_token, settings.production)
    return Response(exposition(settings.queue_url), content_type=CONTENT_TYPE)
