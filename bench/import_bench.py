"""The import scenario: a large mPulse member CSV uploaded to POST /api/customers/import, timed end to end with
the server's peak memory and CPU, next to a floor: stdlib sqlite3 executemany of the same good rows.

The CSV is generated once (deterministic) and cached in bench/.data/ with a JSON sidecar that says which rows
are bad and why; `run_import` in run.py calls `run` here.
"""

import argparse
import csv
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench import fleet, seed, servers
from bench.environment import DATA_DIR, ROOT, app_env, python_exe

CSV_VERSION = 1  # bump whenever member_rows() changes, to invalidate the cached CSV
# The header of the mPulse member export (DESIGN.md section 7): a subset of the app's customer fields, in its own order.
MEMBER_COLUMNS = ("id", "first_name", "last_name", "phone_number", "client_member_id", "account_id")
ACCOUNTS = 20  # account ids 1..20, as in the real export
DEFAULT_ROWS = 1_000_000  # the import scenario's CSV without --import-rows
BAD_FRACTION = 0.01
ONE_PREFIX_FRACTION = 0.05  # phone numbers such as the real file's 1284628753
# Each kind of bad row, with the field the service names when it rejects the row.
BAD_KINDS = {
    "short_phone": "phone_number",  # a phone number of 3 digits
    "account_x": "account_id",  # account_id "x"
    "account_zero": "account_id",  # account_id "0" (ids start at 1)
    "id_only": "row",  # only an id: no contact field at all
    "extra_column": "row",  # 7 cells under a 6-column header
}
FIRST_NAMES = (
    "Aarika",
    "Abner",
    "Adelaide",
    "Alejandra",
    "Aloysius",
    "Amerigo",
    "Anatole",
    "Annamarie",
    "Aprilette",
    "Aurelia",
    "Bale",
    "Derril",
    "Gennie",
    "Wynn",
    "Yank",
    "Ardath",
    "Cherilynn",
    "Dniren",
    "Ermentrude",
    "Fidelia",
    "Gwendolen",
    "Hieronymus",
    "Ingaberg",
    "Jo",
    "Kristoforo",
    "Lorianne",
    "Maximilien",
    "Nananne",
    "Osbourn",
    "Philippine",
)
LAST_NAMES = (
    "Abbiss",
    "Aiskovitch",
    "Aleksandrikin",
    "Attenborough",
    "Ball",
    "Birdwistle",
    "Blackboro",
    "Deboo",
    "Dhennin",
    "O'Heffernan",
    "Walles",
    "Ashenhurst",
    "Beaument",
    "Castelletti",
    "D'Alessandro",
    "Eakens",
    "Fitzsimons",
    "Grimsdyke",
    "Haslewood",
    "Ivanishin",
    "Jirka",
    "Kilmartin",
    "Le Marchand",
    "MacGillivray",
    "Nuttall",
    "Pettengell",
    "Quincee",
    "Rosenkrantz",
    "St. John",
    "Tremayne",
)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format
IMPORT_PATH = "/api/customers/import"
TARGET_RATIO = 2.0  # the HTTP import's wall time over the floor's, at most
TARGET_CLI_RATIO = 1.0  # the CLI import's wall time over the HTTP import's, at most
TARGET_PEAK_MB = 300.0  # import-pg: each process of the fleet
TARGET_GROWTH_MB = 100.0  # import: peak RSS of the server tree over its idle RSS (flat: not growing with the file)
CLI_SUMMARY = re.compile(r"Read (\d+) rows: (\d+) created, (\d+) updated, (\d+) rejected\.")
SAMPLE_INTERVAL = 0.1
PROFILE_RATE = 50  # py-spy samples per second
PROFILE_MARKER = "(services/import"  # frames of services/imports.py and services/import_jobs.py
FLOOR_COLUMNS = (*MEMBER_COLUMNS, "created_at", "updated_at", "version", "points", "cashback_balance")
FLOOR_INSERT = f"INSERT INTO customers ({', '.join(FLOOR_COLUMNS)}) VALUES ({', '.join('?' for _ in FLOOR_COLUMNS)})"


# --- the CSV ---


def member_rows(count: int, bad_every: int | None = None):
    """Yield (cells, bad kind or None): unique ids, and phone numbers and member ids unique across the whole file
    (so within each account too); about BAD_FRACTION of the rows are bad, or exactly every `bad_every`-th one."""
    rng = random.Random(20251123)
    kinds = tuple(BAD_KINDS)
    for i in range(count):
        if rng.random() < ONE_PREFIX_FRACTION:
            phone = f"1{(i * 654_435_761 + 12_345) % 10**9:09d}"  # odd multiplier, no factor 5: a bijection
        else:  # 10 digits with a NANP area code (2-9): 2000000000..9999999999, bijective for i < 8e9
            phone = str(2_000_000_000 + (i * 2_654_435_761 + 987_654_321) % 8_000_000_000)
        member = str(1_000_000 + (i * 7_000_003 + 4_242_424) % 9_000_000)  # 7 digits; coprime: unique for i < 9e6
        cells = [
            str(i + 1),
            rng.choice(FIRST_NAMES),
            rng.choice(LAST_NAMES),
            phone,
            member,
            str(rng.randint(1, ACCOUNTS)),
        ]
        kind = None
        drawn = rng.random()  # drawn either way: the other cells stay those of the same row
        bad = (i + 1) % bad_every == 0 if bad_every else drawn < BAD_FRACTION
        if bad:
            kind = rng.choice(kinds)
            if kind == "short_phone":
                cells[3] = str(rng.randrange(100, 1000))
            elif kind == "account_x":
                cells[5] = "x"
            elif kind == "account_zero":
                cells[5] = "0"
            elif kind == "id_only":
                cells = [cells[0], "", "", "", "", ""]
            else:
                cells.append("extra")
        yield cells, kind


def ensure_members_csv(rows: int, rebuild: bool = False, bad_every: int | None = None) -> tuple[Path, dict]:
    """(CSV path, its sidecar: size, bad rows by kind, bad ids); generated once per row count, share of bad rows
    and CSV_VERSION."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    name = f"members-{rows}" + (f"-bad-every-{bad_every}" if bad_every else "")
    csv_path, meta_path = DATA_DIR / f"{name}.csv", DATA_DIR / f"{name}.json"
    if not rebuild and meta_path.exists() and csv_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("version") == CSV_VERSION and meta.get("bytes") == csv_path.stat().st_size:
            return csv_path, meta
    started = time.monotonic()
    meta_path.unlink(missing_ok=True)
    tmp_path = csv_path.with_suffix(".csv.tmp")
    bad_ids, kinds = [], Counter()
    with open(tmp_path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(MEMBER_COLUMNS)
        for cells, kind in member_rows(rows, bad_every):
            writer.writerow(cells)
            if kind:
                bad_ids.append(cells[0])
                kinds[kind] += 1
    tmp_path.replace(csv_path)
    meta = {
        "version": CSV_VERSION,
        "rows": rows,
        "bytes": csv_path.stat().st_size,
        "bad": len(bad_ids),
        "bad_by_kind": dict(sorted(kinds.items())),
        "bad_ids": bad_ids,
    }
    meta_path.write_text(json.dumps(meta))
    print(
        f"generated {csv_path.name} ({meta['bytes'] / 1e6:.1f} MB) in {time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    return csv_path, meta


# --- measuring the server ---


class MemorySampler(threading.Thread):
    """Sums VmRSS over the server's process tree every SAMPLE_INTERVAL seconds and keeps the peak."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True, name="rss-sampler")
        self.root_pid, self.peak_kb, self.samples = root_pid, 0, 0
        self.done = threading.Event()

    def sample(self) -> None:
        total = sum(rss for rss, _ in servers.memory_snapshot(self.root_pid).values())
        self.peak_kb, self.samples = max(self.peak_kb, total), self.samples + 1

    def run(self) -> None:
        while not self.done.wait(SAMPLE_INTERVAL):
            self.sample()

    def stop(self) -> None:
        self.done.set()
        self.join()
        self.sample()


class TimedFile:
    """A file for httpx to stream (it reads it in 64 KiB chunks, Content-Length from fstat); notes when the last
    byte has been handed over, which splits the wall time into upload+spool and import."""

    def __init__(self, path: Path):
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.finished_at: float | None = None

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        if not chunk and self.finished_at is None:
            self.finished_at = time.perf_counter()
        return chunk

    def fileno(self) -> int:
        return self.file.fileno()

    def __iter__(self):  # httpx only checks that content is iterable, then uses read()
        return iter(lambda: self.read(65_536), b"")

    def close(self) -> None:
        self.file.close()


@dataclass
class ServerUse:
    """What the server's process tree used: memory at its peak and idle before the upload, CPU over the upload."""

    peak_rss_mb: float | None = None
    idle_rss_mb: float | None = None
    cpu_s: float | None = None


@dataclass
class AppRun:
    """The app side's figures; error is set when they must not be trusted."""

    http_status: int | None = None
    polls: int = 0  # GET /api/imports/{id} after a 202
    wall_s: float | None = None
    body_sent_s: float | None = None
    rows_per_s: float | None = None
    server: ServerUse = field(default_factory=ServerUse)
    report: dict = field(default_factory=dict)
    rejected_by_reason: dict = field(default_factory=dict)
    stored: int | None = None
    profile_samples: int = 0
    profile: list = field(default_factory=list)
    error: str | None = None


@dataclass
class FloorRun:
    rows: int = 0
    prepare_s: float | None = None
    wall_s: float | None = None
    rows_per_s: float | None = None
    error: str | None = None


@dataclass
class CliRun:
    """`flask --app app customers import FILE` on a fresh copy of the same empty database."""

    wall_s: float | None = None
    rows_per_s: float | None = None
    cpu_s: float | None = None
    peak_rss_mb: float | None = None
    report: dict = field(default_factory=dict)
    stored: int | None = None
    error: str | None = None


def upload(port: int, csv_path: Path, token: str, timeout: float) -> tuple[int, dict, float | None, int]:
    """POST the CSV as a streamed text/csv body; follow a 202 to the end. (status, report, body sent at, polls)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    body, polls = TimedFile(csv_path), 0
    try:
        with httpx.Client(base_url=f"http://{servers.HOST}:{port}", timeout=httpx.Timeout(timeout, connect=10)) as c:
            response = c.post(IMPORT_PATH, content=body, headers=headers)
            if response.status_code == 202:  # over IMPORT_SYNC_MAX_BYTES: follow the job to its end
                location, auth = response.headers["Location"], {"Authorization": headers["Authorization"]}
                while True:
                    time.sleep(0.25)
                    response, polls = c.get(location, headers=auth), polls + 1
                    if response.status_code != 200 or response.json().get("status") not in ("queued", "running"):
                        break
            try:
                report = response.json()
            except ValueError:
                report = {"raw": response.text[:500]}
            return response.status_code, report, body.finished_at, polls
    finally:
        body.close()


def check_report(status: int, report: dict, rows: int, bad: int) -> str | None:
    """Why the answer is wrong, or None."""
    if status != 200:
        return f"POST {IMPORT_PATH} -> {status}: {json.dumps(report)[:500]}"
    keys = ("rows_read", "created", "updated", "rejected", "errors", "status")
    if missing := [k for k in keys if k not in report]:
        return f"report without {missing}: {json.dumps(report)[:500]}"
    if report["status"] != "succeeded":
        return f"import status {report['status']!r}: {report.get('detail')}"
    read, created, updated, rejected = (report[k] for k in ("rows_read", "created", "updated", "rejected"))
    if created + updated + rejected != read:
        return f"created {created} + updated {updated} + rejected {rejected} != rows_read {read}"
    if read != rows:
        return f"rows_read {read} != {rows} rows in the file"
    if created + rejected != read:
        return f"created {created} + rejected {rejected} != rows_read {read} (updated {updated} on a fresh database)"
    return None


def profile_command(pid: int, out: Path) -> list[str] | None:
    """py-spy record (raw folded stacks) of the server tree, if py-spy is installed in the venv."""
    py_spy = ROOT / ".venv" / "bin" / "py-spy"
    if not py_spy.exists():
        return None
    # --idle: time the import thread spends waiting on I/O (SQLite writes, fsync) counts too.
    command = [str(py_spy), "record", "-p", str(pid), "--subprocesses", "--idle", "-f", "raw"]
    return [*command, "-r", str(PROFILE_RATE), "-o", str(out)]


def top_functions(raw_path: Path, count: int = 15) -> tuple[int, list[dict]]:
    """(samples, functions with the most samples on top of the stack): only the stacks of the import request
    (those through services/imports.py or import_jobs.py), so idle threads and the event loop do not count."""
    own, total, samples = Counter(), Counter(), 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit() or PROFILE_MARKER not in stack:
            continue
        frames = stack.split(";")
        samples += int(number)
        own[frames[-1]] += int(number)
        for frame in set(frames):
            total[frame] += int(number)
    functions = [
        {"function": f, "self": round(n / samples, 3), "total": round(total[f] / samples, 3)}
        for f, n in own.most_common(count)
    ]
    return samples, functions


def stop_profiler(profiler: subprocess.Popen, profile_path: Path, result: "AppRun") -> None:
    """SIGINT py-spy (it then writes its output) and summarise the profile into result."""
    profiler.send_signal(signal.SIGINT)
    try:
        _, stderr = profiler.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        profiler.kill()
        _, stderr = profiler.communicate()
    if profile_path.exists():
        result.profile_samples, result.profile = top_functions(profile_path)
    else:
        print(f"warning: py-spy wrote no profile: {stderr.decode(errors='replace')[-500:]}", file=sys.stderr)


def run_app(args: argparse.Namespace, db_path: Path, csv_path: Path, meta: dict) -> AppRun:
    """Serve the app on a copy of the empty database, upload the CSV, measure, check the report and the table."""
    from bench.run import bearer_token  # run.py imports this module

    # The upload is larger than IMPORT_SYNC_MAX_BYTES (default 1 MiB): answered 202, imported by the queue that
    # each gunicorn worker embeds (QUEUE_EMBEDDED, the default), as production runs it.
    env = {
        **app_env(db_path),
        "MAX_IMPORT_BYTES": str(max(4 * 1024**3, meta["bytes"])),
        "IMPORT_DIR": str(DATA_DIR / "imports"),
    }
    result = AppRun()
    print(f"[import] starting {args.app} ({args.import_workers} workers)", file=sys.stderr)
    try:
        with servers.serving("import", args.app, env, args.import_workers, production=True) as server:
            try:
                token = bearer_token(server)
            except (OSError, RuntimeError) as exc:
                result.error = f"no bearer token: {exc}"
                return result
            pid = server.proc.pid
            result.server.idle_rss_mb = sum(rss for rss, _ in servers.memory_snapshot(pid).values()) / 1024
            profiler, profile_path = start_profiler(args, pid)
            sampler = MemorySampler(pid)
            print(f"[import] POST {IMPORT_PATH}: {csv_path.name} ({meta['bytes'] / 1e6:.1f} MB)", file=sys.stderr)
            cpu_before = servers.cpu_snapshot(pid)
            sampler.start()
            started = time.perf_counter()
            try:
                status, report, sent_at, result.polls = upload(server.port, csv_path, token, args.import_timeout)
            except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
                result.error = f"upload failed: {type(exc).__name__}: {exc}\n{servers.log_tail(server)}"
                return result
            finally:
                result.wall_s = time.perf_counter() - started
                sampler.stop()
                if profiler is not None:
                    stop_profiler(profiler, profile_path, result)
            cpu_after = servers.cpu_snapshot(pid)
            hwm_kb = max((hwm for _, hwm in servers.memory_snapshot(pid).values()), default=0)
    except servers.ServerError as exc:
        result.error = f"server failed to start: {exc}"
        return result
    result.http_status = status
    result.body_sent_s = sent_at - started if sent_at else None
    result.server.peak_rss_mb = max(sampler.peak_kb, hwm_kb) / 1024
    result.server.cpu_s = servers.cpu_seconds_between(cpu_before, cpu_after)
    read_report(result, report, meta, db_path)
    return result


def start_profiler(args: argparse.Namespace, pid: int) -> tuple[subprocess.Popen | None, Path]:
    """With --profile, py-spy recording the server tree: (the profiler, or None without one; where it writes)."""
    profile_path = DATA_DIR / "profile-import.txt"
    if not args.profile:
        return None, profile_path
    profile_path.unlink(missing_ok=True)
    command = profile_command(pid, profile_path)
    if command is None:
        print("warning: --profile: .venv/bin/py-spy not found, no profile", file=sys.stderr)
        return None, profile_path
    profiler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let py-spy attach
    return profiler, profile_path


def read_report(result: AppRun, report: dict, meta: dict, db_path: Path) -> None:
    """The answer's figures into result, with result.error saying why the answer or the stored table is wrong."""
    errors = report.get("errors") if isinstance(report.get("errors"), list) else []
    reasons = Counter(f"{e.get('field')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    result.rejected_by_reason = dict(reasons.most_common())
    result.report = {k: v for k, v in report.items() if k != "errors"} | {"errors_listed": len(errors)}
    if isinstance(report.get("rows_read"), int) and result.wall_s:
        result.rows_per_s = report["rows_read"] / result.wall_s
    result.error = check_report(result.http_status, report, meta["rows"], meta["bad"])
    result.stored = count_customers(db_path)
    if result.error is None and result.stored != report["created"]:
        result.error = f"the report says {report['created']} created, the customers table holds {result.stored}"


def count_customers(db_path: Path) -> int | None:
    try:
        with sqlite3.connect(db_path) as conn:
            count = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
        conn.close()
        return count
    except sqlite3.Error:
        return None


def run_floor(base_db: Path, csv_path: Path, meta: dict) -> FloorRun:
    """executemany of the good rows (stored form: "+1" phone, int account) into a fresh copy, one transaction.

    Reading the CSV and building the tuples (prepare_s) is timed apart: the floor figure is the insert only.
    """
    result = FloorRun()
    db_path = seed.working_copy(base_db, "import-floor.db")
    bad = set(meta["bad_ids"])
    now = datetime.now(UTC).replace(tzinfo=None).strftime(TIME_FORMAT)
    started = time.perf_counter()
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        rows = [(c[0], c[1], c[2], "+1" + c[3], c[4], int(c[5]), now, now, 1, 0, 0) for c in reader if c[0] not in bad]
    result.prepare_s, result.rows = time.perf_counter() - started, len(rows)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):  # as the app's connections
            conn.execute(f"PRAGMA {pragma}")
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(FLOOR_INSERT, rows)
        conn.execute("COMMIT")
        result.wall_s = time.perf_counter() - started
        stored = conn.execute("SELECT count(*) FROM customers").fetchone()[0]
    except sqlite3.Error as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        conn.close()
    result.rows_per_s = result.rows / result.wall_s if result.wall_s else None
    if stored != result.rows:
        result.error = f"inserted {result.rows} rows, the table holds {stored}"
    return result


def run_cli(args: argparse.Namespace, base_db: Path, csv_path: Path, meta: dict) -> CliRun:
    """The CLI import of the same CSV into a fresh copy of the empty database: wall time, CPU and peak RSS of the
    process (wait4's rusage), its summary line checked like the HTTP report."""
    result = CliRun()
    db_path = seed.working_copy(base_db, "import-cli.db")
    log_path = DATA_DIR / "cli-import.log"
    command = [python_exe(), "-m", "flask", "--app", "app", "customers", "import", str(csv_path)]
    try:
        with open(log_path, "wb") as log:
            started = time.perf_counter()
            proc = subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=app_env(db_path), stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            timer = threading.Timer(args.import_timeout, proc.kill)
            timer.start()
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            result.wall_s = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: tell Popen
        result.cpu_s = usage.ru_utime + usage.ru_stime
        result.peak_rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
        output = log_path.read_text(errors="replace")
        if proc.returncode != 0:
            result.error = f"exit {proc.returncode}: {output[-1000:]}"
            return result
        match = CLI_SUMMARY.search(output)
        if match is None:
            result.error = f"no summary line in its output: {output[-500:]}"
            return result
        read, created, updated, rejected = map(int, match.groups())
        result.report = {"rows_read": read, "created": created, "updated": updated, "rejected": rejected}
        result.rows_per_s = read / result.wall_s if result.wall_s else None
        report = {**result.report, "status": "succeeded", "errors": []}
        result.error = check_report(200, report, meta["rows"], meta["bad"])
        result.stored = count_customers(db_path)
        if result.error is None and result.stored != created:
            result.error = f"the CLI says {created} created, the customers table holds {result.stored}"
    except OSError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    finally:
        seed.remove_database(db_path)
    return result


# --- report ---


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def verdict(value: float | None, limit: float) -> str:
    return "-" if value is None else ("PASS" if value <= limit else "FAIL")


def ratio_of(value: float | None, base: float | None) -> float | None:
    return value / base if value and base else None


def print_report(args: argparse.Namespace, meta: dict, app: AppRun | None, cli: CliRun | None, floor: FloorRun) -> None:
    ratio = ratio_of(app.wall_s, floor.wall_s) if app and not app.error else None
    answer = f"202 then {app.polls} polls of the job" if app and app.polls else "answered synchronously"
    print(
        f"\nimport: {meta['rows']:,} rows ({meta['bad']:,} bad), {meta['bytes'] / 1e6:.1f} MB CSV; http: POST "
        f"{IMPORT_PATH} (text/csv, streamed, {answer}) to gunicorn -c gunicorn.conf.py ({args.import_workers} "
        "workers), imported by the queue a worker embeds; cli: flask --app app customers import FILE"
    )
    print(f"{'side':<8}{'wall s':>9}{'rows/s':>11}{'peak RSS MB':>13}{'CPU s':>9}{'x floor':>9}")
    if app is not None:
        peak, cpu = fmt(app.server.peak_rss_mb, ".1f"), fmt(app.server.cpu_s, ".1f")
        r = fmt(ratio, ".2f") + "x" if ratio else "-"
        print(f"{'http':<8}{fmt(app.wall_s, '.2f'):>9}{fmt(app.rows_per_s, ',.0f'):>11}{peak:>13}{cpu:>9}{r:>9}")
    if cli is not None:
        cli_ratio = ratio_of(cli.wall_s, floor.wall_s) if not cli.error else None
        peak, cpu = fmt(cli.peak_rss_mb, ".1f"), fmt(cli.cpu_s, ".1f")
        r = fmt(cli_ratio, ".2f") + "x" if cli_ratio else "-"
        print(f"{'cli':<8}{fmt(cli.wall_s, '.2f'):>9}{fmt(cli.rows_per_s, ',.0f'):>11}{peak:>13}{cpu:>9}{r:>9}")
    print(f"{'floor':<8}{fmt(floor.wall_s, '.2f'):>9}{fmt(floor.rows_per_s, ',.0f'):>11}{'-':>13}{'-':>9}")
    if app is not None:
        report = app.report
        if "rows_read" in report:
            print(
                f"  http report: status {report.get('status')}, rows_read {report['rows_read']:,}, created "
                f"{report.get('created', 0):,}, updated {report.get('updated', 0):,}, rejected "
                f"{report.get('rejected', 0):,} (bad rows generated: {meta['bad']:,}); customers stored: "
                f"{fmt(app.stored, ',')}"
            )
            if report.get("rejected") != meta["bad"]:
                print(f"  WARNING: {report.get('rejected'):,} rows rejected, {meta['bad']:,} bad rows generated")
        kinds = ", ".join(f"{kind} {n:,} ({BAD_KINDS[kind]})" for kind, n in meta["bad_by_kind"].items())
        print(f"  generated bad rows: {kinds}")
        for reason, n in app.rejected_by_reason.items():
            print(f"  rejected {n:>9,}  {reason}")
        if app.wall_s and app.body_sent_s is not None:
            print(
                f"  http: body sent after {app.body_sent_s:.2f}s (upload, spooled to disk), report "
                f"{app.wall_s - app.body_sent_s:.2f}s later (queued, parse, validate, insert); CPU and RSS of the "
                f"whole server tree (master, workers, the embedded queue); idle RSS "
                f"{fmt(app.server.idle_rss_mb, '.1f')} MB"
            )
    if cli is not None and cli.report:
        print(
            f"  cli report: rows_read {cli.report['rows_read']:,}, created {cli.report['created']:,}, rejected "
            f"{cli.report['rejected']:,}; customers stored: {fmt(cli.stored, ',')} (fresh copy of the same database)"
        )
    print(
        f"  floor: stdlib sqlite3 executemany of the {floor.rows:,} good rows in one transaction on a fresh copy of "
        f"the same empty database, no validation; reading the CSV into tuples took {fmt(floor.prepare_s, '.2f')}s "
        "more (not counted)"
    )
    if app is not None and app.profile:
        seconds = app.profile_samples / PROFILE_RATE
        print(f"  profile of the import (py-spy --idle, {seconds:.0f}s sampled; share self / total):")
        for entry in app.profile:
            print(f"    {entry['self']:6.1%} {entry['total']:6.1%}  {entry['function']}")
    print_targets(target_verdicts(app, cli, floor))
    if app is not None and app.error:
        print(f"ERROR app import: {app.error}")
    if cli is not None and cli.error:
        print(f"ERROR cli import: {cli.error}")
    if floor.error:
        print(f"ERROR floor import: {floor.error}")


def target_verdicts(app: AppRun | None, cli: CliRun | None, floor: FloorRun) -> list[dict]:
    """Each target: what, the limit, the figure (None when it could not be measured) and PASS/FAIL/-."""
    http_wall = app.wall_s if app is not None and not app.error else None
    cli_wall = cli.wall_s if cli is not None and not cli.error else None
    floor_wall = floor.wall_s if not floor.error else None
    growth = None
    if app is not None and not app.error and app.server.peak_rss_mb and app.server.idle_rss_mb:
        growth = app.server.peak_rss_mb - app.server.idle_rss_mb
    targets = [
        ("http import / floor", ratio_of(http_wall, floor_wall), TARGET_RATIO, "x"),
        ("cli import / http import", ratio_of(cli_wall, http_wall), TARGET_CLI_RATIO, "x"),
        ("http server RSS: peak - idle", growth, TARGET_GROWTH_MB, " MB"),
    ]
    return [
        {"target": name, "limit": limit, "value": value, "unit": unit, "verdict": verdict(value, limit)}
        for name, value, limit, unit in targets
    ]


def print_targets(targets: list[dict]) -> None:
    """The targets, PASS or FAIL ('-' when a side failed or did not run)."""
    print("\ntargets (wall time ratios; memory flat):")
    for t in targets:
        limit, value = f"{t['limit']:g}{t['unit']}", fmt(t["value"], ".2f") + (t["unit"] if t["value"] else "")
        print(f"  {t['target']:<30}<= {limit:<8} {value:>10}   {t['verdict']}")


def run(args: argparse.Namespace) -> bool:
    """The import scenario: the HTTP import and the CLI import (unless --only floor), then the floor; prints the
    table, writes the JSON."""
    app_is_floor = args.only == "floor"
    use_migrations = seed.has_migrations()
    if not use_migrations and not app_is_floor:
        raise RuntimeError("app.py or migrations/ not found: run with --only floor until the app exists")
    started = time.monotonic()
    base_db = seed.ensure_empty_db(use_migrations, rebuild=args.rebuild_import)
    csv_path, meta = ensure_members_csv(args.import_rows or DEFAULT_ROWS, rebuild=args.rebuild_import)
    print(f"import data ready in {time.monotonic() - started:.1f}s: {csv_path.name}, {base_db.name}", file=sys.stderr)
    app, cli, app_db = None, None, seed.working_copy(base_db, "import-run.db")
    try:
        if not app_is_floor:
            app = run_app(args, app_db, csv_path, meta)
            seed.remove_database(app_db)
            print("[cli] flask --app app customers import", file=sys.stderr)
            cli = run_cli(args, base_db, csv_path, meta)
        print("[floor] sqlite3 executemany of the good rows", file=sys.stderr)
        floor = run_floor(base_db, csv_path, meta)
    finally:  # about 300 MB each once filled
        seed.remove_database(app_db)
        seed.remove_database(DATA_DIR / "import-floor.db")
    print_report(args, meta, app, cli, floor)
    targets = target_verdicts(app, cli, floor)
    ok = not floor.error and not (app and app.error) and not (cli and cli.error)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / "results-import.json"
    payload = {
        "scenario": "import",
        "app": None if app_is_floor else args.app,
        "csv": {k: v for k, v in meta.items() if k != "bad_ids"},
        "workers": args.import_workers,
        "targets": {t["target"]: {"limit": t["limit"], "value": t["value"], "pass": t["verdict"]} for t in targets},
        "app_result": rounded(flat_figures(app)) if app else None,
        "cli_result": rounded(asdict(cli)) if cli else None,
        "floor_result": rounded(asdict(floor)),
        "ratio": ratio_of(app.wall_s, floor.wall_s) if app else None,
        "cli_ratio": ratio_of(cli.wall_s, floor.wall_s) if cli else None,
        "ok": ok,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results: {path}")
    return ok


def flat_figures(app: AppRun) -> dict:
    """The app side's figures as one flat record, the server's use in its place, as results-import.json keeps them."""
    figures = {}
    for name, value in asdict(app).items():
        figures.update(value if name == "server" else {name: value})
    return figures


def rounded(values: dict) -> dict:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in values.items()}


# --- the PostgreSQL scenario (import-pg): the fleet as production runs it ---

PG_DATABASE = "bench_import"
PG_BAD_EVERY = 100  # exactly 1 % bad rows: 50,000 of 5,000,000
PG_DEFAULT_ROWS = 5_000_000
PG_WEB_WORKERS = 2
PG_QUEUE_THREADS = 2
FLOOR_TABLE = "customers_floor"
FLOOR_COPY_COLUMNS = (*MEMBER_COLUMNS, "created_at", "updated_at", "version", "points", "cashback_balance")


@dataclass
class ProcessPeak:
    """One process of the fleet: what it is and its peak resident memory."""

    role: str
    pid: int
    peak_rss_mb: float = 0.0


class FleetMemory(threading.Thread):
    """Each process's peak VmRSS under each root, sampled every SAMPLE_INTERVAL seconds (and VmHWM at the end)."""

    def __init__(self, roots: dict[tuple[str, str], int]):  # (role, role of its children) -> pid
        super().__init__(daemon=True, name="fleet-rss-sampler")
        self.roots, self.peaks, self.done = roots, {}, threading.Event()

    def sample(self, use_hwm: bool = False) -> None:
        for (role, child_role), root in self.roots.items():
            for pid, (rss, hwm) in servers.memory_snapshot(root).items():
                label = role if pid == root else child_role
                peak = self.peaks.setdefault(pid, ProcessPeak(label, pid))
                peak.peak_rss_mb = max(peak.peak_rss_mb, (hwm if use_hwm else rss) / 1024)

    def run(self) -> None:
        while not self.done.wait(SAMPLE_INTERVAL):
            self.sample()

    def stop(self) -> list[ProcessPeak]:
        self.done.set()
        self.join()
        self.sample(use_hwm=True)
        return sorted(self.peaks.values(), key=lambda p: (p.role, p.pid))


@dataclass
class PgRun:
    """The PostgreSQL scenario's figures; error is set when they must not be trusted."""

    app: AppRun = field(default_factory=AppRun)
    processes: list = field(default_factory=list)  # ProcessPeak, one per process of the fleet
    floor: FloorRun = field(default_factory=FloorRun)


def run_pg_app(args: argparse.Namespace, csv_path: Path, meta: dict, result: PgRun) -> None:
    """Serve the fleet on the bench database, upload the CSV through nginx, follow the job, measure every process."""
    from bench.run import bearer_token  # run.py imports this module

    app = result.app
    print(f"[import-pg] nginx, gunicorn ({PG_WEB_WORKERS} workers) and a queue worker", file=sys.stderr)
    settings = {"IMPORT_DIR": str(DATA_DIR / "imports"), "MAX_IMPORT_BYTES": str(4 * 1024**3), "LOG_LEVEL": "WARNING"}
    try:
        with fleet.app_fleet(fleet.postgres_url(PG_DATABASE), PG_WEB_WORKERS, PG_QUEUE_THREADS, **settings) as running:
            web, queue = running.web, running.queue
            token = bearer_token(running.front)
            roots = {
                ("gunicorn master", "web worker"): web.proc.pid,
                ("queue worker", "queue worker child"): queue.proc.pid,
            }
            app.server.idle_rss_mb = (
                sum(rss for pid in roots.values() for rss, _ in servers.memory_snapshot(pid).values()) / 1024
            )
            profiler, profile_path = start_profiler(args, queue.proc.pid)
            sampler = FleetMemory(roots)
            cpu_before = {**servers.cpu_snapshot(web.proc.pid), **servers.cpu_snapshot(queue.proc.pid)}
            sampler.start()
            print(f"[import-pg] POST {IMPORT_PATH}: {csv_path.name} ({meta['bytes'] / 1e6:.1f} MB)", file=sys.stderr)
            started = time.perf_counter()
            try:
                status, report, sent_at, app.polls = upload(running.front.port, csv_path, token, args.import_timeout)
            finally:
                app.wall_s = time.perf_counter() - started
                result.processes = sampler.stop()
                if profiler is not None:
                    stop_profiler(profiler, profile_path, app)
            cpu_after = {**servers.cpu_snapshot(web.proc.pid), **servers.cpu_snapshot(queue.proc.pid)}
    except (servers.ServerError, RuntimeError, OSError, httpx.HTTPError, ValueError, KeyError) as exc:
        app.error = f"{type(exc).__name__}: {exc}"
        return
    app.http_status, app.body_sent_s = status, (sent_at - started if sent_at else None)
    app.server.peak_rss_mb = max((p.peak_rss_mb for p in result.processes), default=None)
    app.server.cpu_s = servers.cpu_seconds_between(cpu_before, cpu_after)
    read_pg_report(app, report, meta)


def read_pg_report(app: AppRun, report: dict, meta: dict) -> None:
    """The answer's figures into app; app.error says why the report or the stored table is wrong."""
    errors = report.get("errors") if isinstance(report.get("errors"), list) else []
    app.rejected_by_reason = {
        f"{c.get('field')}: {c.get('message')}": c.get("count") for c in report.get("error_counts") or []
    }
    app.report = {k: v for k, v in report.items() if k not in ("errors", "error_counts")} | {
        "errors_listed": len(errors)
    }
    if isinstance(report.get("rows_read"), int) and app.wall_s:
        app.rows_per_s = report["rows_read"] / app.wall_s
    app.error = check_report(app.http_status, report, meta["rows"], meta["bad"])
    if app.error is None and (report["created"], report["rejected"]) != (meta["rows"] - meta["bad"], meta["bad"]):
        expected = f"{meta['rows'] - meta['bad']} and {meta['bad']}"
        app.error = f"created {report['created']}, rejected {report['rejected']}: expected {expected}"
    app.stored = count_rows("customers")
    if app.error is None and app.stored != report["created"]:
        app.error = f"the report says {report['created']} created, the customers table holds {app.stored}"


def count_rows(table: str) -> int | None:
    import psycopg

    try:
        with psycopg.connect(fleet.conninfo(PG_DATABASE)) as conn:
            return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except psycopg.Error:
        return None


def copy_text(value: object) -> str:
    """A value in COPY's text format."""
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def ensure_floor_file(csv_path: Path, meta: dict) -> tuple[Path, int, float]:
    """The good rows of the CSV in stored form as COPY text, beside it: (path, rows, seconds taken to write it)."""
    path = csv_path.with_suffix(".copy")
    started, rows = time.perf_counter(), 0
    bad = set(meta["bad_ids"])
    stamp = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    tmp = path.with_suffix(".copy.tmp")
    with open(csv_path, newline="") as source, open(tmp, "w") as out:
        reader = csv.reader(source)
        next(reader)
        for c in reader:
            if c[0] in bad:
                continue
            cells = (c[0], c[1], c[2], "+1" + c[3], c[4], c[5], stamp, stamp, 1, 0, 0)
            out.write("\t".join(map(copy_text, cells)) + "\n")
            rows += 1
    tmp.replace(path)
    return path, rows, time.perf_counter() - started


def run_pg_floor(csv_path: Path, meta: dict) -> FloorRun:
    """psycopg COPY of the good rows (stored form) into a fresh copy of the customers table; COPY + commit timed."""
    # LIKE ... INCLUDING ALL: the same indexes and constraints as the table the app fills.
    import psycopg

    result = FloorRun()
    path, result.rows, result.prepare_s = ensure_floor_file(csv_path, meta)
    columns = ", ".join(FLOOR_COPY_COLUMNS)
    try:
        with psycopg.connect(fleet.conninfo(PG_DATABASE)) as conn:
            conn.execute(f"CREATE TABLE {FLOOR_TABLE} (LIKE customers INCLUDING ALL)")
            conn.commit()
            started = time.perf_counter()
            statement = f"COPY {FLOOR_TABLE} ({columns}) FROM STDIN"
            with open(path, "rb") as source, conn.cursor() as cursor, cursor.copy(statement) as copy:
                while block := source.read(1024 * 1024):
                    copy.write(block)
            conn.commit()
            result.wall_s = time.perf_counter() - started
            stored = conn.execute(f"SELECT count(*) FROM {FLOOR_TABLE}").fetchone()[0]
    except psycopg.Error as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    finally:
        path.unlink(missing_ok=True)
    result.rows_per_s = result.rows / result.wall_s if result.wall_s else None
    if stored != result.rows:
        result.error = f"copied {result.rows} rows, the table holds {stored}"
    return result


def print_pg_report(meta: dict, result: PgRun) -> None:
    """The table: the app's and the floor's rows/s, their ratio, every process's peak memory, the targets."""
    app, floor = result.app, result.floor
    ratio = app.wall_s / floor.wall_s if app.wall_s and floor.wall_s and not app.error else None
    print(
        f"\nimport-pg: {meta['rows']:,} rows ({meta['bad']:,} bad), {meta['bytes'] / 1e6:.1f} MB CSV, "
        f"POST {IMPORT_PATH} (text/csv, streamed, 202 then {app.polls} polls of the job) to gunicorn "
        f"({PG_WEB_WORKERS} workers) through nginx (deploy/'s site), imported by a queue worker process "
        f"({PG_QUEUE_THREADS} threads, the queue on Redis), PostgreSQL {PG_DATABASE}"
    )
    print(f"{'side':<8}{'wall s':>9}{'rows/s':>11}{'CPU s':>9}{'app/floor':>11}")
    r, cpu = fmt(ratio, ".1f") + "x" if ratio else "-", fmt(app.server.cpu_s, ".1f")
    print(f"{'app':<8}{fmt(app.wall_s, '.1f'):>9}{fmt(app.rows_per_s, ',.0f'):>11}{cpu:>9}{r:>11}")
    print(f"{'floor':<8}{fmt(floor.wall_s, '.1f'):>9}{fmt(floor.rows_per_s, ',.0f'):>11}{'-':>9}")
    report = app.report
    if "rows_read" in report:
        print(
            f"  report: status {report.get('status')}, rows_read {report['rows_read']:,}, "
            f"created {report.get('created', 0):,}, updated {report.get('updated', 0):,}, "
            f"rejected {report.get('rejected', 0):,} (bad rows generated: "
            f"{meta['bad']:,}); customers stored: {fmt(app.stored, ',')}"
        )
    for reason, n in app.rejected_by_reason.items():
        print(f"  rejected {n:>9,}  {reason}")
    if app.wall_s and app.body_sent_s is not None:
        imported = app.wall_s - app.body_sent_s
        print(
            f"  app: body sent after {app.body_sent_s:.1f}s (streamed to disk), report {imported:.1f}s later "
            f"({meta['rows'] / imported:,.0f} rows/s once uploaded); idle RSS of the fleet "
            f"{fmt(app.server.idle_rss_mb, '.1f')} MB"
        )
    print(
        f"  floor: psycopg COPY {FLOOR_TABLE} FROM STDIN (LIKE customers INCLUDING ALL) of the {floor.rows:,} good "
        f"rows in stored form, one transaction, no validation; writing them as COPY text took "
        f"{fmt(floor.prepare_s, '.1f')}s more"
    )
    print_profile(app)
    print(f"\npeak RSS per process (each <= {TARGET_PEAK_MB:.0f} MB):")
    for process in result.processes:
        print(
            f"  {process.role:<22} pid {process.pid:<8} {process.peak_rss_mb:7.1f} MB   "
            f"{verdict(process.peak_rss_mb, TARGET_PEAK_MB)}"
        )
    if app.error:
        print(f"ERROR app import: {app.error}")
    if floor.error:
        print(f"ERROR floor import: {floor.error}")


def print_profile(app: AppRun) -> None:
    if app.profile:
        seconds = app.profile_samples / PROFILE_RATE
        print(f"  profile of the queue worker's import (py-spy --idle, {seconds:.0f}s sampled; share self / total):")
        for entry in app.profile:
            print(f"    {entry['self']:6.1%} {entry['total']:6.1%}  {entry['function']}")


def run_pg(args: argparse.Namespace) -> bool:
    """The import-pg scenario on a fresh, migrated bench database (dropped at the end, whatever happened)."""
    rows = args.import_rows or PG_DEFAULT_ROWS
    csv_path, meta = ensure_members_csv(rows, rebuild=args.rebuild_import, bad_every=PG_BAD_EVERY)
    result = PgRun()
    try:
        with fleet.postgres_database(PG_DATABASE) as url:
            env = {**app_env(DATA_DIR / "unused.db"), "DATABASE_URL": url}
            fleet.flask(env, "migration", "db", "upgrade")
            fleet.flask(env, "creating the staff user", *seed.STAFF_USER_COMMAND)
            run_pg_app(args, csv_path, meta, result)
            print("[import-pg] floor: COPY of the good rows", file=sys.stderr)
            result.floor = run_pg_floor(csv_path, meta)
    except Exception as exc:  # noqa: BLE001 - PostgreSQL, Redis or nginx not there: the scenario fails, saying why
        result.app.error = result.app.error or f"{type(exc).__name__}: {exc}"
    print_pg_report(meta, result)
    ok = not result.floor.error and not result.app.error
    ok = ok and all(p.peak_rss_mb <= TARGET_PEAK_MB for p in result.processes)
    payload = {
        "scenario": "import-pg",
        "csv": {k: v for k, v in meta.items() if k != "bad_ids"},
        "fleet": {"web_workers": PG_WEB_WORKERS, "queue_threads": PG_QUEUE_THREADS, "nginx": True},
        "app_result": rounded(flat_figures(result.app)),
        "processes": [asdict(p) for p in result.processes],
        "floor_result": rounded(asdict(result.floor)),
        "ratio": result.app.wall_s / result.floor.wall_s if result.app.wall_s and result.floor.wall_s else None,
        "ok": ok,
    }
    path = DATA_DIR / "results-import-pg.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results: {path}")
    return ok
