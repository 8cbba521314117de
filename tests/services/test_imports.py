"""The import's fast paths give exactly the results of the general rules; the report's error cap and counts;
import jobs claimed by lease, resumed, cancelled."""

import io
import os
import random
import threading
import time
import unicodedata
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config import ConfigurationError, load_settings
from models import Activity, Customer, ImportJob, ImportRowError, db
from models.types import utcnow
from services import imports, tasks
from services.customer_export import spreadsheet_text
from services.customer_rules import CONTROL_CHARACTERS, normalise_phone
from services.database import by_public_id
from services.errors import Conflict
from services.import_jobs import cancel_job, resume_stale_jobs, run_job, spool, start_import, upload_path
from services.imports import RowError, RowRules, Totals, import_customers
from services.settings import current_settings
from services.tokens import new_secret


def test_control_character_pattern_is_exactly_unicode_category_cc():
    """Every code point: the regex matches if and only if unicodedata says Cc."""
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(CONTROL_CHARACTERS.search(char)) == (unicodedata.category(char) == "Cc"), hex(code)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_phone_fast_path_agrees_with_phonenumbers(seed):
    """NANP numbers under region US (ten digits not starting with 0, or 1 and ten digits with a 2-9 area code): the
    shortcut and phonenumbers give the same E.164."""
    rng = random.Random(seed)
    rules = RowRules("US", frozenset())
    samples = [f"{rng.randint(2, 9)}{rng.randrange(10**9):09d}" for _ in range(3000)]
    samples += [f"1{rng.randrange(10**9):09d}" for _ in range(1000)]  # ten digits with a leading 1 (1284628753)
    samples += [f"1{rng.randint(2, 9)}{rng.randrange(10**9):09d}" for _ in range(1000)]  # 1 and a NANP number
    samples += ["2000000000", "9999999999", "2125551234", "1000000000", "1999999999", "12000000000", "19999999999"]
    for number in samples:
        assert rules.phone(number) == normalise_phone(number, "US"), number


@pytest.mark.parametrize(
    "number", ["0123456789", "01123456789", "11234567890", "10234567890", "+1 323 555 1234", "(323) 555-1234", "12"]
)
def test_other_numbers_take_the_general_path(number):
    """Anything else goes through phonenumbers, with the same result or the same refusal."""
    rules = RowRules("US", frozenset())
    try:
        expected = normalise_phone(number, "US")
    except ValueError:
        with pytest.raises(ValueError):
            rules.phone(number)
        return
    assert rules.phone(number) == expected


def test_fast_path_is_off_for_other_regions():
    """With another default region the general rule decides."""
    assert RowRules("BR", frozenset()).phone("2125551234") == normalise_phone("2125551234", "BR")


def test_totals_keep_the_first_errors_by_line_and_count_every_one():
    """A cap of 3: the three lowest lines stay (duplicates arrive late), counts and the sink see everything."""
    seen = []
    totals = Totals(max_errors=3, sink=seen.append)
    arrivals = [(5, "email"), (6, "email"), (7, "phone_number"), (9, "email"), (3, "document"), (8, "email")]
    for line, field_name in arrivals:
        totals.reject(line, [RowError(line, field_name, f"bad {field_name}", str(line))])
    assert [e.line for e in totals.errors] == [3, 5, 6]
    assert [e.line for e in seen] == [line for line, _ in arrivals]
    assert totals.errors_total == 6 and totals.errors_truncated
    assert totals.counts() == [
        {"field": "email", "message": "bad email", "count": 4},
        {"field": "document", "message": "bad document", "count": 1},
        {"field": "phone_number", "message": "bad phone_number", "count": 1},
    ]


def test_a_cap_of_zero_lists_no_errors_but_counts_them():
    """IMPORT_REPORT_MAX_ERRORS=0: the report lists nothing and says more exist."""
    totals = Totals(max_errors=0)
    totals.reject(2, [RowError(2, "email", "bad", "x"), RowError(2, "row", "worse", None)])
    assert totals.errors == [] and totals.errors_total == 2 and totals.errors_truncated
    assert sum(c["count"] for c in totals.counts()) == 2


def test_without_a_cap_hit_nothing_is_truncated():
    """Fewer errors than the cap: all listed, errors_truncated false."""
    totals = Totals(max_errors=5)
    for line in (4, 2):
        totals.reject(line, [RowError(line, "email", "bad", None)])
    assert [e.line for e in totals.errors] == [2, 4] and not totals.errors_truncated


def test_import_customers_takes_the_cap_and_sink_of_the_totals_passed_in(app, app_context):
    """The service with a cap of 2 and a sink: the first two errors by line, every one in the sink."""
    seen = []
    text = "id,email\n" + "".join(f"r{i},bad-{i}\n" for i in range(10))
    totals = import_customers(
        io.BytesIO(text.encode()),
        mode="best_effort",
        on_conflict="reject",
        settings=app.app.extensions["settings"],
        totals=Totals(max_errors=2, sink=seen.append),
    )
    assert [e.line for e in totals.errors] == [2, 3]
    assert [e.line for e in seen] == list(range(2, 12))
    assert totals.counts() == [{"field": "email", "message": totals.errors[0].message, "count": 10}]


def test_sqlite_batches_keep_the_first_of_a_clashing_pair(app, app_context, small_batches):
    """SQLite's executemany writer: rows that clash with a stored customer or an earlier row of the file are refused
    by field, the first of a pair goes in, in batches of any size."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite writer")
    db.session.add(Customer(id="stored", phone_number="+13235550000", account_id=1, version=1))
    db.session.commit()
    lines = [f"m{i},32355{i:05d},{i},1" for i in range(250)]
    lines[10] = "m10,3235550000,x10,1"  # the stored customer's phone
    lines[120] = "m5,3235599999,x120,1"  # the id of line 7 (row 5), in another batch
    lines[130] = "m130,3235500129,x130,1"  # the phone of the row just before it, in the same batch
    text = "id,phone_number,client_member_id,account_id\n" + "\n".join(lines) + "\n"
    totals = import_customers(
        io.BytesIO(text.encode()), mode="best_effort", on_conflict="reject", settings=app.app.extensions["settings"]
    )
    assert (totals.rows_read, totals.created, totals.rejected) == (250, 247, 3)
    assert [(e.line, e.field) for e in totals.errors] == [(12, "phone_number"), (122, "id"), (132, "phone_number")]
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 248
    assert db.session.scalar(select(Customer.client_member_id).where(Customer.id == "m5")) == "5"


def test_sqlite_connections_get_their_settings_back_after_an_import(app, app_context):
    """The page cache and checkpoint size an import batch sets are the connection's own again once it is back in
    the pool."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite writer")
    with db.engine.connect() as connection:
        defaults = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in imports.SQLITE_BATCH_PRAGMAS]
    text = "id,client_member_id\n" + "".join(f"p{i},{i}\n" for i in range(10))
    import_customers(
        io.BytesIO(text.encode()), mode="best_effort", on_conflict="reject", settings=app.app.extensions["settings"]
    )
    assert db.session.scalar(select(func.count()).select_from(Customer)) == 10
    db.session.remove()
    for _ in range(db.engine.pool.size() + 1):  # every pooled connection, whichever wrote the batch
        with db.engine.connect() as connection:
            values = [connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in imports.SQLITE_BATCH_PRAGMAS]
            assert values == defaults


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_formula_starts_are_neutralised(start):
    """OWASP CSV injection: a cell starting like a formula gets a leading single quote."""
    assert spreadsheet_text(start + "1+2") == "'" + start + "1+2"


@pytest.mark.parametrize("value", ["", "ann", "1+2", "a=b", " =1", "'quoted"])
def test_other_cells_are_left_alone(value):
    """Anything else is written as it is."""
    assert spreadsheet_text(value) == value


@pytest.mark.parametrize(("value", "message"), [("-1", "at least 0"), ("many", "whole number")])
def test_import_report_max_errors_must_be_a_whole_number_of_at_least_0(monkeypatch, value, message):
    """IMPORT_REPORT_MAX_ERRORS: default 1000; negative or not a number refuses to start."""
    monkeypatch.delenv("IMPORT_REPORT_MAX_ERRORS", raising=False)
    base = {"APP_ENV": "test", "SECRET_KEY": "k" * 40}
    assert load_settings(base).import_report_max_errors == 1000
    assert load_settings({**base, "IMPORT_REPORT_MAX_ERRORS": "0"}).import_report_max_errors == 0
    with pytest.raises(ConfigurationError, match=message):
        load_settings({**base, "IMPORT_REPORT_MAX_ERRORS": value})


def test_counts_of_many_distinct_messages_stay_bounded():
    """Messages that quote the value cannot grow the counts without end: the rest are counted together."""
    from services.imports import MAX_COUNTED_MESSAGES, OTHER_MESSAGES, RowError, Totals

    totals = Totals(max_errors=10)
    for line in range(2, MAX_COUNTED_MESSAGES + 502):
        totals.reject(line, [RowError(line, "email", f"has the character {line!r}", "x")])
    counts = totals.counts()
    assert len(counts) == MAX_COUNTED_MESSAGES + 1
    assert sum(c["count"] for c in counts) == MAX_COUNTED_MESSAGES + 500
    assert {"field": "email", "message": OTHER_MESSAGES, "count": 500} in counts


# --- jobs: claimed by one worker, re-run, cancelled ---------------------------------------------------------------


def members_csv(rows: int, bad_every: int = 7) -> bytes:
    """A CSV of `rows` customers with distinct emails; every `bad_every`-th row has an invalid one."""
    lines = ["id,email"]
    for i in range(1, rows + 1):
        lines.append(f"m{i},{f'not-an-email-{i}' if i % bad_every == 0 else f'm{i}@example.com'}")
    return ("\n".join(lines) + "\n").encode()


def queued_job(body: bytes, mode: str = "best_effort") -> str:
    """A job recorded as a large upload is (queued, its upload in IMPORT_DIR), not yet run by any worker."""
    job_id = new_secret(12)
    job = ImportJob(id=job_id, status="queued", mode=mode, on_conflict="reject", size_bytes=len(body), errors=[])
    db.session.add(job)
    db.session.commit()
    upload_path(current_settings().import_dir, job_id).write_bytes(body)
    return job_id


def stored_job(job_id: str) -> ImportJob:
    """The job as stored now, read in a transaction that is over (SQLite: the test holds no lock meanwhile)."""
    job = by_public_id(ImportJob, job_id, "import", fresh=True)
    db.session.expunge(job)
    db.session.rollback()
    return job


def customers_stored() -> int:
    count = db.session.scalar(select(func.count()).select_from(Customer))
    db.session.rollback()
    return count


def row_error_lines(job_id: str) -> list[int]:
    job = stored_job(job_id)
    lines = list(db.session.scalars(select(ImportRowError.line).where(ImportRowError.import_pk == job.pk)))
    db.session.rollback()
    return lines


@pytest.fixture
def import_dir(use_settings, tmp_path):
    """IMPORT_DIR in a directory of this test's own."""
    use_settings(import_dir=tmp_path)
    return tmp_path


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 100 rows, so that a few thousand rows make many commits."""
    monkeypatch.setattr(imports, "BATCH_ROWS", 100)


def run_in_thread(app, job_id: str) -> threading.Thread:
    """run_job in a thread of its own, as a queue worker of this process runs it."""

    def work():
        with app.app.app_context():
            run_job(job_id)

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 20) -> None:
    """Poll the database until `condition()` holds (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the job did not get there in time"
        time.sleep(0.02)


def test_a_queued_job_runs_to_its_end_and_its_upload_goes(app, app_context, import_dir):
    """run_job claims a queued job, stores every row and the report, and removes the upload."""
    job_id = queued_job(members_csv(50))
    run_job(job_id)
    job = stored_job(job_id)
    assert (job.status, job.rows_read, job.created, job.rejected) == ("succeeded", 50, 43, 7)
    assert sorted(row_error_lines(job_id)) == [i + 1 for i in range(7, 50, 7)]
    assert list(import_dir.iterdir()) == []
    run_job(job_id)  # again: it has ended, nothing happens
    assert (stored_job(job_id).created, customers_stored()) == (43, 43)


def test_two_workers_claiming_one_job_run_it_once(app, app_context, import_dir):
    """Two threads call run_job at the same moment: one claim wins, the rows are stored once, one finish."""
    job_id = queued_job(members_csv(300))
    barrier = threading.Barrier(2)

    def work():
        with app.app.app_context():
            barrier.wait()
            run_job(job_id)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    job = stored_job(job_id)
    assert (job.status, job.created, job.rejected) == ("succeeded", 258, 42)
    finished = db.session.scalars(select(Activity).where(Activity.action == "import.finished")).all()
    assert len(finished) == 1
    assert len(row_error_lines(job_id)) == 42


def test_an_atomic_job_whose_worker_died_runs_again_from_the_start(app, app_context, import_dir):
    """An atomic job left running by a dead worker (lease lapsed, its transaction rolled back by the database,
    half its row errors stored): claimed again, it runs from the start with exact counts and no duplicate errors."""
    body = members_csv(70, bad_every=1000)
    job_id = queued_job(body, mode="atomic")
    job = stored_job(job_id)
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.pk == job.pk)
        .values(status="running", lease_holder="dead", lease_expires_at=utcnow() - timedelta(seconds=1), rows_read=40)
    )
    db.session.execute(
        ImportRowError.__table__.insert(), [{"import_pk": job.pk, "line": 3, "field": "email", "message": "x"}]
    )
    db.session.commit()
    resume_stale_jobs()  # (housekeeping may have done it first)
    assert (stored_job(job_id).status, stored_job(job_id).lease_holder) == ("queued", None)
    run_job(job_id)
    job = stored_job(job_id)
    assert (job.status, job.rows_read, job.created, job.rejected) == ("succeeded", 70, 70, 0)
    assert row_error_lines(job_id) == [] and customers_stored() == 70
    assert list(import_dir.iterdir()) == []


def test_a_job_whose_lease_is_still_held_is_not_resumed(app, app_context, import_dir):
    """A running job whose worker still renews its lease is neither resumed nor claimed by another."""
    job_id = queued_job(members_csv(10))
    db.session.execute(
        update(ImportJob)
        .where(ImportJob.id == job_id)
        .values(status="running", lease_holder="alive", lease_expires_at=utcnow() + timedelta(seconds=60))
    )
    db.session.commit()
    assert resume_stale_jobs() == []
    run_job(job_id)
    assert (stored_job(job_id).status, customers_stored()) == ("running", 0)


def test_a_job_whose_upload_is_gone_fails_at_its_claim(app, app_context, import_dir):
    """The upload missing from IMPORT_DIR: the job fails saying so, nothing stored."""
    job_id = queued_job(members_csv(10))
    upload_path(import_dir, job_id).unlink()
    run_job(job_id)
    job = stored_job(job_id)
    assert job.status == "failed" and "no longer there" in job.detail and customers_stored() == 0


@pytest.mark.parametrize("mode", ["best_effort", "atomic"])
def test_a_cancelled_queued_job_never_runs(app, app_context, import_dir, mode):
    """Cancelled before any worker took it: status cancelled, its upload gone; a worker coming later does nothing."""
    job_id = queued_job(members_csv(10), mode=mode)
    assert cancel_job(job_id).status == "cancelled"
    assert list(import_dir.iterdir()) == []
    run_job(job_id)
    assert (stored_job(job_id).status, customers_stored()) == ("cancelled", 0)
    trail = db.session.scalars(select(Activity).where(Activity.action == "import.cancelled")).one()
    assert trail.target == f"import:{job_id}"


def test_a_cancelled_best_effort_job_stops_at_its_next_batch_and_keeps_what_it_stored(
    app, app_context, import_dir, small_batches
):
    """Cancelled while it runs: the worker stops at its next batch; the batches stored stay and the report counts
    exactly those; the upload is gone."""
    job_id = queued_job(members_csv(20000, bad_every=10**6))
    worker = run_in_thread(app, job_id)
    wait_for(lambda: stored_job(job_id).created > 0)
    answered = cancel_job(job_id).status
    db.session.rollback()  # SQLite: the worker needs the write lock to notice
    worker.join(30)
    assert not worker.is_alive()
    job = stored_job(job_id)
    assert job.status == answered == "cancelled"
    assert 0 < job.created == customers_stored() < 20000
    assert list(import_dir.iterdir()) == []


def test_a_cancelled_atomic_job_stores_nothing(app, app_context, import_dir, small_batches, use_settings, backend):
    """Cancelled while it runs in atomic mode: the worker notices at a lease renewal and rolls everything back."""
    if backend == "sqlite":
        pytest.skip("SQLite has one writer: a running atomic import holds it to its end, so a cancel waits for it")
    use_settings(import_lease_seconds=1)
    job_id = queued_job(members_csv(60000, bad_every=10**6), mode="atomic")
    worker = run_in_thread(app, job_id)
    wait_for(lambda: stored_job(job_id).rows_read > 0)
    cancel_job(job_id)
    db.session.rollback()
    worker.join(60)
    assert not worker.is_alive()
    job = stored_job(job_id)
    assert (job.status, job.created, customers_stored()) == ("cancelled", 0, 0)
    assert list(import_dir.iterdir()) == []


def test_cancelling_an_ended_job_is_a_conflict(app, app_context, import_dir):
    """A job that succeeded cannot be cancelled: Conflict on status."""
    job_id = queued_job(members_csv(5))
    run_job(job_id)
    with pytest.raises(Conflict) as refused:
        cancel_job(job_id)
    assert refused.value.field == "status" and "succeeded" in refused.value.detail


def test_a_queued_job_whose_task_was_lost_runs_after_housekeeping(app, app_context, import_dir, use_settings, tmp_path):
    """A large upload queued on a queue no worker reads (its task lost): housekeeping leaves it while it may still
    be claimed, then, IMPORT_LEASE_SECONDS after it was queued, queues it again and a worker runs it."""
    queue_url = current_settings().queue_url
    use_settings(import_sync_max_bytes=0, import_lease_seconds=2, queue_url=f"sqlite:///{tmp_path / 'lost.db'}")
    path, size = spool(io.BytesIO(members_csv(20)), 10**6, import_dir)
    job_id = start_import(path, size, filename="members.csv", mode="best_effort", on_conflict="reject").id
    use_settings(queue_url=queue_url)
    assert job_id not in tasks.housekeeping()["imports"]
    assert stored_job(job_id).status == "queued"

    def resumed() -> bool:
        return job_id in tasks.housekeeping()["imports"] or stored_job(job_id).status != "queued"

    wait_for(resumed, timeout=10)
    wait_for(lambda: stored_job(job_id).status == "succeeded")
    assert (stored_job(job_id).created, stored_job(job_id).rejected) == (18, 2)


def test_housekeeping_removes_old_uploads_that_no_job_names(app, app_context, import_dir):
    """A spooled upload whose request died before recording its job goes after a day; a fresh one, and an old
    upload of a job still queued, stay."""
    two_days_ago = time.time() - 2 * 24 * 3600
    stray, fresh = import_dir / "tmpstray.csv", import_dir / "tmpfresh.csv"
    stray.write_bytes(b"id,email\n")
    fresh.write_bytes(b"id,email\n")
    job_upload = upload_path(import_dir, queued_job(members_csv(3)))
    for old in (stray, job_upload):
        os.utime(old, (two_days_ago, two_days_ago))
    tasks.housekeeping()
    assert sorted(import_dir.iterdir()) == sorted([fresh, job_upload])
