"""GET /api/metrics: requests by operation and status, partner forwards, rate-limit refusals, import jobs, the token."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from models import ImportJob, db
from tests.api.conftest import problem
from tests.api.test_rate_limits import WRONG_PASSWORD, limited_app
from tests.conftest import ERP_SALE, free_port, login

METRICS = "/api/metrics"
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
SCRAPER_TOKEN = "a-scraper-token-long-enough"  # noqa: S105 - a test value


def scrape(http, headers: dict | None = None) -> dict[tuple, float]:
    """Every sample of a scrape, by (name, sorted labels)."""
    response = http.get(METRICS, headers=headers or {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def grew(before: dict, after: dict, name: str, **labels) -> float:
    """How much a sample grew between two scrapes."""
    return value(after, name, **labels) - value(before, name, **labels)


def test_requests_are_counted_by_operation_method_and_status(anon_client, client):
    """Each answered request counts once under its operationId, never under its path; the histogram times it."""
    before = scrape(anon_client)
    for _ in range(2):
        assert anon_client.get("/api/health").status_code == 200
    assert client.get("/api/customers/someone@example.com").status_code == 404
    after = scrape(anon_client)
    assert grew(before, after, "http_requests_total", operation="health", method="GET", status="200") == 2
    assert grew(before, after, "http_requests_total", operation="get_customer", method="GET", status="404") == 1
    assert grew(before, after, "http_request_duration_seconds_count", operation="health", method="GET") == 2
    assert grew(before, after, "http_request_duration_seconds_bucket", operation="health", method="GET", le="+Inf") == 2
    assert not any("someone" in str(labels) for _, labels in after)


def test_unknown_paths_and_methods_share_fixed_labels(anon_client):
    """Paths no operation matches are `unmatched`, odd methods `other`: a client cannot make new series."""
    before = scrape(anon_client)
    assert anon_client.get("/api/no/such/ana@example.com").status_code == 404
    anon_client.request("BREW", "/api/health")
    after = scrape(anon_client)
    assert grew(before, after, "http_requests_total", operation="unmatched", method="GET", status="404") == 1
    assert sum(v for (name, labels), v in after.items() if ("method", "other") in labels and name.endswith("_total"))
    assert not any("ana@" in str(labels) or "BREW" in str(labels) for _, labels in after)


def test_scrapes_do_not_count_themselves(anon_client):
    """The metrics operation is left out of the request counts."""
    scrape(anon_client)
    after = scrape(anon_client)
    assert not any(("operation", "metrics") in labels for _, labels in after)


@pytest.mark.usefixtures("app")
def test_a_rate_limit_refusal_is_counted_by_limit(settings):
    """A 429 counts under its limit, and as a 429 of its operation."""
    http = limited_app(settings, "memory://").test_client()
    before = scrape(http)
    statuses = [login(http, "victim@example.com", WRONG_PASSWORD).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    after = scrape(http)
    assert grew(before, after, "rate_limit_refusals_total", limit="login") == 1
    assert grew(before, after, "http_requests_total", operation="login", method="POST", status="429") == 1


def test_partner_forwards_are_counted_by_outcome(anon_client, erp, bruna, partner):
    """A sale the partner took counts as sent; one it refused, with attempts left, as retry."""
    before = scrape(anon_client)
    assert erp.post("/api/cashback", json=ERP_SALE).json()["status"] == "sent"
    partner.mode = "error"
    assert erp.post("/api/cashback", json={**ERP_SALE, "sold_at": "2026-11-21 10:00:00"}).json()["status"] == "failed"
    after = scrape(anon_client)
    assert grew(before, after, "cashback_forwards_total", outcome="sent") == 1
    assert grew(before, after, "cashback_forwards_total", outcome="retry") == 1
    assert grew(before, after, "cashback_forwards_total", outcome="failed") == 0


def test_sales_are_listed_by_the_state_of_their_forward(anon_client, erp, bruna, partner, use_settings):
    """Read from the database: what every process of a fleet forwarded, whichever counted it."""
    use_settings(cashback_forward_attempts=1)
    assert erp.post("/api/cashback", json=ERP_SALE).json()["status"] == "sent"
    partner.mode = "error"
    assert erp.post("/api/cashback", json={**ERP_SALE, "sold_at": "2026-11-21 10:00:00"}).json()["status"] == "failed"
    samples = scrape(anon_client)
    counts = {status: value(samples, "erp_sales", status=status) for status in ("not_forwarded", "sent", "failed")}
    assert counts == {"not_forwarded": 0, "sent": 1, "failed": 1}


def test_the_last_failed_attempt_counts_as_failed(anon_client, erp, bruna, partner, use_settings):
    """With no attempt left, a refused forward is `failed` (left for reconciliation)."""
    use_settings(cashback_forward_attempts=1)
    partner.mode = "error"
    before = scrape(anon_client)
    assert erp.post("/api/cashback", json=ERP_SALE).json()["status"] == "failed"
    assert grew(before, scrape(anon_client), "cashback_forwards_total", outcome="failed") == 1


def test_import_jobs_are_listed_by_status(anon_client, app):
    """Every status is listed, with how many jobs are in it now."""
    with app.app.app_context():
        for number, status in enumerate(["queued", "running", "running", "failed"]):
            db.session.add(ImportJob(id=f"job{number}", status=status, mode="best_effort", on_conflict="skip"))
        db.session.commit()
    samples = scrape(anon_client)
    counts = {status: value(samples, "import_jobs", status=status) for status in JOB_STATUSES}
    assert counts == {"queued": 1, "running": 2, "succeeded": 0, "failed": 1, "cancelled": 0}
    assert value(samples, "queue_tasks_pending") >= 0
    assert ("queue_tasks_scheduled", ()) in samples


def test_a_database_that_is_down_leaves_out_the_jobs_not_the_scrape(tmp_path):
    """The database refusing connections: the scrape still answers, without import jobs."""
    down = create_app(
        {
            "APP_ENV": "test",
            "DATABASE_URL": f"postgresql+psycopg://app@127.0.0.1:{free_port()}/customers",
            "DATABASE_CONNECT_TIMEOUT": 2,
            "AUTO_MIGRATE": False,
            "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
            "QUEUE_EMBEDDED": False,
            "LOG_LEVEL": "CRITICAL",
        }
    )
    samples = scrape(down.test_client())
    assert not any(name in ("import_jobs", "erp_sales") for name, _ in samples)
    assert ("queue_tasks_pending", ()) in samples


def test_the_token_is_required_once_set(anon_client, use_settings):
    """METRICS_TOKEN set: 401 problem+json with a Bearer challenge without it or with another, 200 with it."""
    use_settings(metrics_token=SCRAPER_TOKEN)
    refused = anon_client.get(METRICS)
    problem(refused, 401)
    assert refused.headers["www-authenticate"] == "Bearer"
    problem(anon_client.get(METRICS, headers={"Authorization": "Bearer not-the-token"}), 401)
    problem(anon_client.get(METRICS, headers={"Authorization": f"Basic {SCRAPER_TOKEN}"}), 401)
    assert value(scrape(anon_client, {"Authorization": f"Bearer {SCRAPER_TOKEN}"}), "import_jobs", status="queued") == 0


def test_production_without_a_token_serves_no_metrics(anon_client, use_settings):
    """A production that set no METRICS_TOKEN answers 404: counts are not published by default."""
    use_settings(app_env="production")
    problem(anon_client.get(METRICS), 404)
    use_settings(metrics_token=SCRAPER_TOKEN)
    scrape(anon_client, {"Authorization": f"Bearer {SCRAPER_TOKEN}"})


def test_the_default_prometheus_path_answers_alike(anon_client, use_settings):
    """/metrics answers as /api/metrics, token included, and is not counted either."""
    before = scrape(anon_client)
    response = anon_client.get("/metrics")
    assert response.status_code == 200
    assert "import_jobs" in response.text
    assert (
        grew(before, scrape(anon_client), "http_requests_total", operation="unmatched", method="GET", status="200") == 0
    )
    use_settings(metrics_token=SCRAPER_TOKEN)
    problem(anon_client.get("/metrics"), 401)
    assert anon_client.get("/metrics", headers={"Authorization": f"Bearer {SCRAPER_TOKEN}"}).status_code == 200
