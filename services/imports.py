"""Bulk import of customers from CSV: streamed, validated by the customer rules, written in batches.

Best-effort mode stores every valid row and reports each rejected one by line; atomic mode stores all
or nothing. Rows that collide with stored customers (or with earlier rows of the same file) are found
by the database's own unique constraints, so the result is the same as creating them one by one.
"""

import codecs
import csv
import io
import logging
import re
import unicodedata
from bisect import insort
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import bindparam, event, select, update
from sqlalchemy import text as sql
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from config import Settings
from models import Customer, ErpSale, db
from models.types import UTCDateTime, utcnow
from services import customer_rules as rules
from services.cashback import credit_unassigned_sales
from services.context import current_principal
from services.customers import UNIQUE_FIELDS
from services.database import unique_violation_field
from services.errors import BusinessRuleViolation, InvalidInput
from services.rewards import MAX_BALANCE, open_wallet, round_money
from services.tokens import new_secret

log = logging.getLogger(__name__)

MODES = ("best_effort", "atomic")
ON_CONFLICT = ("reject", "update")
BATCH_ROWS = 25000  # fewer commits: each one also checkpoints the SQLite write-ahead log
# SQLite, on the connection of each batch until it goes back to the pool: a batch dirties pages all over the
# customers' indexes, which the default page cache (2 MiB) writes out to the WAL again and again before the commit,
# and each commit past the default 1000 WAL pages copies the WAL back into the database (a checkpoint, with fsync).
SQLITE_BATCH_PRAGMAS = {"cache_size": -32 * 1024, "wal_autocheckpoint": 16 * 1024}  # 32 MiB; 64 MiB of WAL
SAVED_PRAGMAS = "customer_import_saved_pragmas"  # the pool's record of the connection keeps them until checkin
MAX_LINE_BYTES = 1024 * 1024
VALUE_SHOWN = 200  # characters of an offending value kept in the report
# Under region US, phonenumbers gives "+1" + the digits for 10 digits that do not start with 0 (a leading 1 is
# kept: 1284628753 -> +11284628753), and "+" + the digits for 11 digits of 1 and a 2-9 area code.
NANP_TEN_DIGITS = re.compile(r"[1-9]\d{9}")
NANP_WITH_ONE = re.compile(r"1[2-9]\d{9}")
# OWASP CSV injection: a spreadsheet may run a cell starting with one of these as a formula. The export
# writes such a cell behind a leading ' (services.customer_export.spreadsheet_text); reading takes it off.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
UNIQUE_KEYS = (
    ("id", ("id",)),
    ("email", ("email",)),
    ("document", ("document",)),
    ("phone_number", ("account_id", "phone_number")),
    ("client_member_id", ("account_id", "client_member_id")),
)


@dataclass
class RowError:
    line: int
    field: str
    message: str
    value: str | None

    def as_dict(self) -> dict:
        return {"line": self.line, "field": self.field, "message": self.message, "value": self.value}


DEFAULT_MAX_ERRORS = 1000
COUNTS = ("rows_read", "created", "updated", "rejected")  # the figures of an import's report
MAX_COUNTED_MESSAGES = 200
OTHER_MESSAGES = "other messages"


@dataclass
class Totals:
    """Counts so far; read = created + updated + rejected once a batch is written."""

    # A report stays small whatever the file: it keeps the first `max_errors` row errors (by line) and
    # exact counts per field and message; every error goes to `sink`, which keeps the full list elsewhere.
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    rejected: int = 0
    max_errors: int = DEFAULT_MAX_ERRORS
    sink: Callable[[RowError], None] | None = None
    errors: list[RowError] = field(default_factory=list)
    error_counts: Counter = field(default_factory=Counter)  # (field, message) -> errors
    errors_total: int = 0
    stopped_at: str | None = None  # why reading stopped before the end of the file

    def reject(self, line: int, errors: list[RowError]) -> None:
        self.rejected += 1
        for error in errors:
            self.errors_total += 1
            self.error_counts[self._count_key(error)] += 1
            self._keep(error)
            if self.sink is not None:
                self.sink(error)

    def _count_key(self, error: RowError) -> tuple[str, str]:
        # Some messages quote the offending characters: past MAX_COUNTED_MESSAGES kinds, new ones are
        # counted together, so a hostile file cannot grow the report through its counts either.
        key = (error.field, error.message)
        if key in self.error_counts or len(self.error_counts) < MAX_COUNTED_MESSAGES:
            return key
        return (error.field, OTHER_MESSAGES)

    def _keep(self, error: RowError) -> None:
        # Duplicates are found when their batch is written, after later lines were refused: keep the
        # first errors by line, not by arrival.
        if len(self.errors) < self.max_errors:
            insort(self.errors, error, key=_line)
        elif self.max_errors and error.line < self.errors[-1].line:
            insort(self.errors, error, key=_line)
            self.errors.pop()

    @property
    def errors_truncated(self) -> bool:
        """More errors exist than `errors` lists."""
        return self.errors_total > len(self.errors)

    def counts(self) -> list[dict]:
        """Errors per field and message, the most frequent first."""
        return sorted_counts(dict(self.error_counts))  # dict() copies at once: a report may read a live job


def _line(error: RowError) -> int:
    return error.line


def sorted_counts(counts: dict[tuple[str, str], int]) -> list[dict]:
    """[{"field", "message", "count"}] by count descending, then field and message."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"field": f, "message": m, "count": n} for (f, m), n in ordered]


class RowRules:
    """The customer rules (services.customer_rules.FIELDS) applied to one CSV row of text cells."""

    def __init__(self, phone_region: str, supported_languages: frozenset[str]):
        self.phone_region = phone_region
        context = rules.FieldContext(phone_region, supported_languages)
        self.rules: dict[str, Callable[[str], object]] = {
            field.name: field.normaliser(context) for field in (rules.ID_FIELD, *rules.FIELDS)
        }
        self._general_phone = self.rules["phone_number"]
        self.rules["phone_number"] = self.phone

    def phone(self, value: str) -> str:
        # phonenumbers costs ~30 µs a number. Plain NANP digits under region US are by far the common case in
        # member files, and phonenumbers always gives the same E.164 form for them (tests compare the two).
        if self.phone_region == "US" and value.isascii():
            if NANP_TEN_DIGITS.fullmatch(value):
                return "+1" + value
            if NANP_WITH_ONE.fullmatch(value):
                return "+" + value
        return self._general_phone(value)

    def apply(self, line: int, row: dict[str, str]) -> tuple[dict, list[RowError]]:
        """The stored form of a row, or the errors that refuse it."""
        return self.apply_cells(line, list(row), list(row.values()))

    def apply_cells(self, line: int, columns: list[str], cells: list[str]) -> tuple[dict, list[RowError]]:
        """The stored form of a row given as its cells under `columns` (as many), or the errors that refuse it."""
        return self.checker(columns)(line, cells)

    def checker(self, columns: list[str]) -> Callable[[int, list[str]], tuple[dict, list[RowError]]]:
        """apply_cells for rows under one header, the rule of each column looked up once (it runs for every row)."""
        named_rules = [(name, self.rules[name]) for name in columns]
        contacts = [name for name in columns if name in rules.CONTACT_FIELDS]
        no_contact = "needs at least one of " + ", ".join(rules.CONTACT_FIELDS)

        def check(line: int, cells: list[str]) -> tuple[dict, list[RowError]]:
            values, errors = {}, []
            for (name, rule), text in zip(named_rules, cells, strict=True):
                text = text.strip()
                if not text:
                    values[name] = None
                    continue
                if text[0] == "'":
                    text = unquoted(text)
                try:
                    values[name] = rule(text)
                except ValueError as exc:
                    errors.append(RowError(line, name, str(exc), text[:VALUE_SHOWN]))
            if not errors:
                for name in contacts:
                    if values[name]:
                        break
                else:
                    errors.append(RowError(line, "row", no_contact, None))
            return values, errors

        return check


def unquoted(cell: str) -> str:
    """A cell as it was before the export quoted it: quotes followed by a formula start lose one quote."""
    # Only then: other leading quotes ('quoted) are data, and the export writes them as they are.
    if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS):
        return cell[1:]
    return cell


def header_columns(header: list[str]) -> list[str]:
    """Match header cells to customer fields (any case); unknown or repeated columns refuse the file."""
    names = [cell.strip().lower() for cell in header]
    known = rules.PUBLIC_FIELDS
    unknown = [cell for cell, name in zip(header, names, strict=True) if name not in known]
    if unknown:
        raise InvalidInput.single(
            "file", f"has unknown columns {', '.join(map(repr, unknown))}; known columns are {', '.join(known)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidInput.single("file", f"repeats the columns {', '.join(repeated)}")
    return names


class _Unreadable(Exception):
    """A physical line that cannot be read as UTF-8 text, or is unreasonably long."""

    def __init__(self, line: int, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


@dataclass(frozen=True)
class Position:
    """How far a file was read: physical lines (the header's included) and bytes."""

    line: int
    offset: int


class _Lines:
    """The lines of a binary stream as text, numbered: a bad byte is reported at its line, memory stays one line."""

    def __init__(self, stream: io.BufferedIOBase):
        self.stream, self.number = stream, 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        raw = self.stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise _Unreadable(self.number, f"is longer than {MAX_LINE_BYTES} bytes")
        if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Unreadable(self.number, "is not UTF-8 text") from None

    def seek(self, position: Position) -> None:
        """Go on reading at `position` (where an earlier reading of the same file stopped)."""
        self.stream.seek(position.offset)
        self.number = position.line


class CsvRows:
    """The data rows of a CSV file as (physical line, cells); a reading error ends them, noted in totals.stopped_at."""

    def __init__(self, lines: _Lines, reader, totals: Totals):
        self.lines, self.reader, self.totals = lines, reader, totals

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        last_line = self.lines.number
        while True:
            try:
                cells = next(self.reader)
            except StopIteration:
                return
            except _Unreadable as exc:
                self.totals.stopped_at = f"line {exc.line}: the line {exc.reason}"
                return
            except csv.Error as exc:
                self.totals.stopped_at = f"line {last_line + 1}: {exc}"
                return
            line, last_line = last_line + 1, self.lines.number
            if cells and (cells[0].strip() or any(cell.strip() for cell in cells)):
                yield line, cells

    def position(self) -> Position:
        """Where the row after the last one read starts."""
        return Position(self.lines.number, self.lines.stream.tell())


def read_rows(stream: io.BufferedIOBase, totals: Totals, start: Position | None = None) -> tuple[list[str], CsvRows]:
    """The header and the rows after it (from `start` when given); a file unreadable from the start is InvalidInput."""
    lines = _Lines(stream)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)
    except _Unreadable as exc:
        raise InvalidInput.single("file", f"{exc.reason} (line {exc.line})") from None
    except csv.Error as exc:
        raise InvalidInput.single("file", f"is not CSV (line {reader.line_num}: {exc})") from None
    if header is None:
        raise InvalidInput.single("file", "is empty: a header row is required")
    if any(unicodedata.category(ch) == "Cc" and ch != "\t" for cell in header for ch in cell):
        raise InvalidInput.single("file", "is not a CSV text file (line 1 holds binary data)")
    columns = header_columns(header)
    if start is not None:
        lines.seek(start)
    return columns, CsvRows(lines, reader, totals)


# Called after each batch is written, before best-effort mode commits it, with the totals and the position of the
# next row; `final` the last time, which in atomic mode is the one commit (not called when atomic mode rolls back).
BatchHook = Callable[[Totals, Position, bool], None]
STAGING = "customer_import_staging"  # PostgreSQL: a temporary table of the connection, one batch at a time


class _RowStatements:
    """How a batch reaches the database on any dialect: a multi-row INSERT, then one wallet at a time."""

    def __init__(self, columns: list[str], bonus: Decimal):
        self.columns, self.bonus = columns, bonus
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        self.statement = dialect.insert(Customer.__table__).on_conflict_do_nothing().returning(Customer.__table__.c.id)

    def stage(self, fresh: list[tuple[int, dict]], updates: list[tuple[int, dict]]) -> None:
        """Nothing to stage: the rows go in with their statements."""

    def update_all(self, updates: list[tuple[int, dict]], now: datetime) -> bool:
        """False: the caller updates one row at a time."""
        return False

    def insert(self, rows: list[tuple[int, dict]], now: datetime) -> set[str]:
        """Insert the rows, skipping any that collide; the ids that went in, wallets opened."""
        full = [_new_row(values, now) for _, values in rows]
        stored = set(db.session.execute(self.statement, full).scalars())
        self._open_wallets(stored)
        return stored

    def _open_wallets(self, stored: set[str]) -> None:
        if self.bonus > 0 and stored:
            for customer in db.session.scalars(select(Customer).where(Customer.id.in_(stored))):
                open_wallet(customer, self.bonus)


class _SqliteStatements(_RowStatements):
    """SQLite: each batch goes in with one executemany of a prepared INSERT on the session's own connection."""

    # Rows that collide are skipped (ON CONFLICT DO NOTHING) in line order, so the first row of a clashing pair goes
    # in, as one at a time would. The transaction holds SQLite's one write lock and keys only grow (AUTOINCREMENT):
    # the rows this batch stored are those past the largest key before it, looked up only when some were skipped.
    CONSTANTS = ("created_at", "updated_at", "version", "points", "cashback_balance")

    def __init__(self, columns: list[str], bonus: Decimal):
        super().__init__(columns, bonus)
        table = Customer.__table__
        dialect = db.engine.dialect
        self.names = ["id", *(name for name in columns if name != "id")]
        self.row_of = itemgetter(*self.names) if len(self.names) > 1 else lambda values: (values["id"],)
        quote = dialect.identifier_preparer.quote
        self.table = quote(table.name)
        names = ", ".join(quote(name) for name in (*self.names, *self.CONSTANTS))
        marks = ", ".join("?" for _ in (*self.names, *self.CONSTANTS))
        self.sql = f"INSERT INTO {self.table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING"

        def processor(name: str):
            return table.c[name].type.dialect_impl(dialect).bind_processor(dialect)

        self.stamp = processor("created_at")
        balance = processor("cashback_balance")
        self.balance = balance(Decimal("0")) if balance else Decimal("0")
        # Values go to the driver as the rules made them (text and integers): a column type that would convert
        # them sends the batch through the general statement instead.
        self.plain = all(processor(name) is None for name in self.names)
        if not event.contains(db.engine.pool, "checkin", _restore_pragmas):
            event.listen(db.engine.pool, "checkin", _restore_pragmas)

    def insert(self, rows: list[tuple[int, dict]], now: datetime) -> set[str]:
        if not self.plain:
            return super().insert(rows, now)
        stamp = self.stamp(now) if self.stamp else now
        constants = (stamp, stamp, 1, 0, self.balance)
        row_of = self.row_of
        params = [(*row_of(values), *constants) for _, values in rows]
        pooled = db.session.connection().connection  # in the session's transaction
        driver = pooled.driver_connection
        cursor = driver.cursor()
        try:
            if SAVED_PRAGMAS not in pooled.info:
                pooled.info[SAVED_PRAGMAS] = {
                    name: cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in SQLITE_BATCH_PRAGMAS
                }
                for name, value in SQLITE_BATCH_PRAGMAS.items():
                    cursor.execute(f"PRAGMA {name} = {int(value)}")
            last_key = cursor.execute(f"SELECT coalesce(max(pk), 0) FROM {self.table}").fetchone()[0]
            before = driver.total_changes
            cursor.executemany(self.sql, params)
            inserted = driver.total_changes - before
            if inserted == len(rows):
                stored = {values["id"] for _, values in rows}
            else:
                stored = {row[0] for row in cursor.execute(f"SELECT id FROM {self.table} WHERE pk > ?", (last_key,))}
        finally:
            cursor.close()
        self._open_wallets(stored)
        return stored


def _restore_pragmas(driver_connection, record) -> None:
    """Pool checkin: a connection that wrote an import batch gets its own page cache and checkpoint size back."""
    saved = record.info.pop(SAVED_PRAGMAS, None) if record is not None else None
    if saved and driver_connection is not None:
        for name, value in saved.items():
            driver_connection.execute(f"PRAGMA {name} = {int(value)}")


def _new_row(values: dict, now: datetime) -> dict:
    row = dict.fromkeys(rules.PUBLIC_FIELDS)
    row.update(values)
    row.update(created_at=now, updated_at=now, version=1, points=0, cashback_balance=0)
    return row


class _CopyStatements:
    """PostgreSQL: each batch is copied (COPY FROM STDIN) into a temporary staging table, then merged."""

    # COPY runs on the session's own connection, so it is part of the import's transaction. New customers go in
    # with one INSERT ... SELECT (their signup-bonus ledger entries with it), updates with one UPDATE ... FROM.

    def __init__(self, columns: list[str], bonus: Decimal):
        quote = db.engine.dialect.identifier_preparer.quote
        self.changed = [name for name in columns if name != "id"]  # what an update sets (the file's columns)
        self.copied = ["line", "fresh", "id", *self.changed]
        self.names = {name: quote(name) for name in (*rules.PUBLIC_FIELDS, "line", "fresh")}
        self.bonus = bonus

    def stage(self, fresh: list[tuple[int, dict]], updates: list[tuple[int, dict]]) -> None:
        """Empty the staging table (created once per connection) and COPY the batch into it."""
        table = Customer.__table__
        dialect = db.engine.dialect
        typed = ", ".join(f"{self.names[n]} {table.c[n].type.compile(dialect)}" for n in rules.PUBLIC_FIELDS)
        # ON COMMIT DELETE ROWS: a pooled connection keeps the table, never the rows of an earlier import.
        create = f"CREATE TEMPORARY TABLE IF NOT EXISTS {STAGING} (line integer, fresh boolean, {typed})"
        db.session.execute(sql(f"{create} ON COMMIT DELETE ROWS"))
        db.session.execute(sql(f"TRUNCATE {STAGING}"))  # atomic mode commits once: earlier batches are still there
        names = ", ".join(self.names[n] for n in self.copied)
        raw = db.session.connection().connection.driver_connection
        with raw.cursor() as cursor, cursor.copy(f"COPY {STAGING} ({names}) FROM STDIN") as copy:
            for is_fresh, rows in ((True, fresh), (False, updates)):
                for line, values in rows:
                    copy.write_row((line, is_fresh, *(values.get(n) for n in self.copied[2:])))

    def update_all(self, updates: list[tuple[int, dict]], now: datetime) -> bool:
        """Update the staged existing customers with one statement; False when a row could clash."""
        # One statement gives what updating one row at a time in line order gives only when no row takes a
        # unique value that another customer or another row holds; otherwise the caller goes row by row.
        if db.session.scalar(sql(self._clash_query())):
            return False
        sets = "".join(f"{self.names[n]} = s.{self.names[n]}, " for n in self.changed)
        merge = sql(
            f"UPDATE customers AS c SET {sets}updated_at = :now, version = c.version + 1 "
            f"FROM {STAGING} AS s WHERE c.id = s.id AND NOT s.fresh"
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        try:
            with db.session.begin_nested():
                db.session.execute(merge, {"now": now})
        except IntegrityError:  # a concurrent writer took a value meanwhile: one row at a time sorts it out
            return False
        return True

    def _clash_query(self) -> str:
        """SELECT true for a repeated id, or a unique key (as updated) another customer holds or two rows share."""
        changed = set(self.changed)

        def new(part: str) -> str:
            return f"s.{self.names[part]}" if part in changed else f"c.{self.names[part]}"

        updated = f"{STAGING} AS s JOIN customers AS c ON c.id = s.id WHERE NOT s.fresh"
        checks = [f"SELECT 1 FROM {STAGING} WHERE NOT fresh GROUP BY id HAVING count(*) > 1"]
        for _, key in UNIQUE_KEYS:
            if key == ("id",) or not changed & set(key):
                continue
            same = " AND ".join(f"o.{self.names[p]} = {new(p)}" for p in key)
            checks.append(
                f"SELECT 1 FROM {updated} AND EXISTS (SELECT 1 FROM customers AS o WHERE {same} AND o.id <> s.id)"
            )
            present = " AND ".join(f"{new(p)} IS NOT NULL" for p in key)
            group = ", ".join(new(p) for p in key)
            checks.append(f"SELECT 1 FROM {updated} AND {present} GROUP BY {group} HAVING count(*) > 1")
        return "SELECT " + " OR ".join(f"EXISTS ({check})" for check in checks)

    def insert(self, rows: list[tuple[int, dict]], now: datetime) -> set[str]:
        """Merge the staged new customers, skipping any that collide; the ids that went in, wallets opened."""
        # In line order, so the first of a clashing pair goes in. A wallet opened with the bonus and its ledger
        # entry are what open_wallet leaves on a new customer.
        if self.bonus > MAX_BALANCE:
            raise BusinessRuleViolation("the balance would exceed the largest one kept")
        names = ", ".join(self.names[n] for n in ("id", *self.changed))
        principal = current_principal()
        merge = sql(
            f"WITH created AS (INSERT INTO customers ({names}, created_at, updated_at, version, points, "
            f"cashback_balance) SELECT {names}, :now, :now, 1, 0, :bonus FROM {STAGING} WHERE fresh ORDER BY line "
            "ON CONFLICT DO NOTHING RETURNING pk, id, points, cashback_balance), "
            "wallets AS (INSERT INTO ledger_entries (customer_pk, kind, points, amount, points_balance, "
            "cashback_balance, actor, created_at) SELECT pk, 'signup_bonus', 0, :bonus, points, cashback_balance, "
            ":actor, :now FROM created WHERE :bonus > 0) SELECT id FROM created"
        ).bindparams(bindparam("now", type_=UTCDateTime()))
        bonus = round_money(self.bonus) if self.bonus > 0 else Decimal("0.00")
        params = {"now": now, "bonus": bonus, "actor": principal.label if principal else None}
        return set(db.session.scalars(merge, params))


def _writer() -> type[_RowStatements] | type["_CopyStatements"]:
    """How batches reach this database: COPY on PostgreSQL through psycopg, executemany on SQLite's own driver."""
    dialect = db.engine.dialect
    if (dialect.name, dialect.driver) == ("postgresql", "psycopg"):  # COPY is psycopg's
        return _CopyStatements
    if (dialect.name, dialect.driver) == ("sqlite", "pysqlite"):
        return _SqliteStatements
    return _RowStatements


class CustomerImport:
    """One import: feed it rows, it writes batches and keeps the totals."""

    def __init__(
        self, columns: list[str], *, mode: str, on_conflict: str, settings: Settings, on_batch: BatchHook | None = None
    ):
        self.columns, self.mode, self.on_conflict, self.on_batch = columns, mode, on_conflict, on_batch
        self.rules = RowRules(settings.default_phone_region, settings.supported_languages)
        self.check = self.rules.checker(columns)
        self.totals = Totals()
        self.statements = _writer()(columns, settings.signup_bonus_cashback)

    def run(self, rows: CsvRows) -> Totals:
        """Validate and write every row, a batch at a time; in atomic mode commit only if no row was refused."""
        batch: list[tuple[int, dict]] = []
        unwritten = 0
        for line, cells in rows:
            self.totals.rows_read += 1
            unwritten += 1
            values = self._checked(line, cells)
            if values is not None:
                batch.append((line, values))
            # Refused rows count too: what is held until the next commit stays bounded.
            if unwritten >= BATCH_ROWS:
                self._write(batch)
                self._commit(rows, final=False)
                batch, unwritten = [], 0
        self._write(batch)
        if self.mode == "atomic" and (self.totals.rejected or self.totals.stopped_at):
            db.session.rollback()
            self.totals.created = self.totals.updated = 0
        else:
            self._commit(rows, final=True)
        return self.totals

    def _checked(self, line: int, cells: list[str]) -> dict | None:
        """The stored form of a row, or None when it is refused (and reported)."""
        width = len(self.columns)
        if len(cells) != width:
            message = f"has {len(cells)} columns where the header has {width}"
            self.totals.reject(line, [RowError(line, "row", message, None)])
            return None
        values, errors = self.check(line, cells)
        if errors:
            self.totals.reject(line, errors)
            return None
        return values

    def _commit(self, rows: CsvRows, *, final: bool) -> None:
        if self.on_batch is not None:
            self.on_batch(self.totals, rows.position(), final)
        if final or self.mode == "best_effort":
            db.session.commit()  # each batch stands on its own; memory and locks stay small

    def _write(self, batch: list[tuple[int, dict]]) -> None:
        if not batch:
            return
        now = utcnow()
        existing = self._existing_ids(batch) if self.on_conflict == "update" else set()
        fresh, updates = [], []
        for line, values in batch:
            if values.get("id") in existing:
                updates.append((line, values))
            else:
                values["id"] = values.get("id") or new_secret(12)
                fresh.append((line, values))
        self.statements.stage(fresh, updates)
        if updates and self.statements.update_all(updates, now):
            self.totals.updated += len(updates)
        else:
            for line, values in updates:
                self._update(line, values, now)
        self._insert(fresh, now)
        self._credit_sales({v["document"] for _, v in batch if v.get("document")})

    def _existing_ids(self, batch: list[tuple[int, dict]]) -> set[str]:
        ids = [v["id"] for _, v in batch if v.get("id")]
        if not ids:
            return set()
        return set(db.session.scalars(select(Customer.id).where(Customer.id.in_(ids))))

    def _insert(self, rows: list[tuple[int, dict]], now: datetime) -> None:
        """Insert the rows, skipping any that collide; the ids stored tell which went in (the first of a pair)."""
        if not rows:
            return
        stored = self.statements.insert(rows, now)
        for line, row in rows:
            if row["id"] in stored:
                stored.discard(row["id"])  # a second row with the same id is the duplicate
                self.totals.created += 1
            else:
                self._reject_duplicate(line, row)

    def _reject_duplicate(self, line: int, row: dict, *, updating: str | None = None) -> None:
        """Report the field a refused row clashes on (an updated customer does not clash with itself)."""
        for field_name, key in UNIQUE_KEYS:
            if any(row.get(part) is None for part in key):
                continue
            condition = [getattr(Customer, part) == row[part] for part in key]
            if updating is not None:
                condition.append(Customer.id != updating)
            if db.session.scalar(select(Customer.pk).where(*condition).limit(1)) is not None:
                value = str(row[field_name])
                self.totals.reject(line, [RowError(line, field_name, "is already taken", value)])
                return
        self.totals.reject(line, [RowError(line, "row", "collides with a stored customer", None)])

    def _update(self, line: int, values: dict, now) -> None:
        changes = {k: v for k, v in values.items() if k != "id"}
        try:
            with db.session.begin_nested():
                db.session.execute(
                    update(Customer)
                    .where(Customer.id == values["id"])
                    .values(**changes, updated_at=now, version=Customer.version + 1)
                    .execution_options(synchronize_session=False)
                )
            self.totals.updated += 1
        except IntegrityError as exc:  # a unique violation of this row only: it is reported
            if unique_violation_field(exc, UNIQUE_FIELDS) is None:
                raise
            self._reject_duplicate(line, values, updating=values["id"])

    def _credit_sales(self, documents: set[str]) -> None:
        """Credit kept ERP sales waiting for the documents of the batch's rows to their customers."""
        if not documents:
            return
        waiting = set(
            db.session.scalars(
                select(ErpSale.document).where(ErpSale.document.in_(documents), ErpSale.customer_pk.is_(None))
            )
        )
        for document in waiting:
            customer = db.session.scalars(select(Customer).where(Customer.document == document)).first()
            if customer is not None:
                credit_unassigned_sales(customer)


def import_customers(
    stream: io.BufferedIOBase,
    *,
    mode: str,
    on_conflict: str,
    settings: Settings,
    totals: Totals | None = None,
    start: Position | None = None,
    on_batch: BatchHook | None = None,
) -> Totals:
    """Read a CSV of customers from a binary stream and store them; whole-file problems raise InvalidInput.

    `settings` give the phone region, the languages, the opening wallet balance and the report's error cap. A job
    that goes on with an earlier reading passes its `totals` so far and the `start` of its next row.
    """
    if mode not in MODES:
        raise InvalidInput.single("mode", f"must be one of {', '.join(MODES)}")
    if on_conflict not in ON_CONFLICT:
        raise InvalidInput.single("on_conflict", f"must be one of {', '.join(ON_CONFLICT)}")
    if totals is None:  # callers pass their own to choose the error cap and where every error goes
        totals = Totals(max_errors=settings.import_report_max_errors)
    columns, rows = read_rows(stream, totals, start)
    job = CustomerImport(columns, mode=mode, on_conflict=on_conflict, settings=settings, on_batch=on_batch)
    job.totals = totals
    job.run(rows)
    if totals.rows_read == 0 and totals.stopped_at is None:
        raise InvalidInput.single("file", "has a header row but no data rows")
    return totals
