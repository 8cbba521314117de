"""Command-line tasks: `flask --app app users create|import ...`, `flask --app app cashback retry`,
`flask --app app queue worker`."""

import csv
import os
import sys

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from schemas.accounts import NewUserInput
from schemas.common import load_input
from services.cashback import failed_sale_ids, retry
from services.customer_export import export_rows
from services.customers import CustomerFilters
from services.errors import ServiceError
from services.imports import MODES, ON_CONFLICT, Position, Totals, import_customers
from services.settings import current_settings
from services.tasks import run_worker
from services.users import MANAGED_ROLES, add_user, import_user

users_cli = AppGroup("users", help="Manage the people who sign in.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(MANAGED_ROLES), default="staff", show_default=True)
@click.option("--password", help="Prompted for (hidden, twice) when omitted.")
def create_user_command(email: str, role: str, password: str | None) -> None:
    """Create a staff member or an admin."""
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        values = load_input(NewUserInput(), {"email": email, "password": password, "role": role})  # as POST /users
        user = add_user(values["email"], values["password"], values["role"])
    except ServiceError as exc:
        raise click.ClickException(_reason(exc)) from None
    click.echo(f"Created {user.role} {user.email} (id {user.id}).")


@users_cli.command("import")
@click.argument("csv_file", type=click.File(encoding="utf-8-sig"))
def import_users_command(csv_file) -> None:
    """Import users of the old system from a CSV: email,password_hash[,role][,first_name][,last_name].

    bcrypt hashes are kept as they are and upgraded to argon2id at each user's next sign-in.
    """
    reader = csv.DictReader(csv_file)
    missing = {"email", "password_hash"} - {name.strip().lower() for name in reader.fieldnames or []}
    if missing:
        raise click.ClickException(f"the header needs the columns {', '.join(sorted(missing))}")
    imported = refused = 0
    signup_bonus = current_settings().signup_bonus_cashback
    for line, row in enumerate(reader, start=2):
        row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
        names = {k: row.get(k) or None for k in ("first_name", "last_name")}
        try:
            import_user(
                row["email"], row["password_hash"], row.get("role") or "customer", signup_bonus=signup_bonus, **names
            )
            imported += 1
        except ServiceError as exc:
            refused += 1
            click.echo(f"line {line}: {_reason(exc)}", err=True)
    click.echo(f"Imported {imported} users; refused {refused}.")


def _reason(exc: ServiceError) -> str:
    errors = getattr(exc, "errors", None)
    return "; ".join(f"{e.field} {e.message}" for e in errors) if errors else exc.detail


customers_cli = AppGroup("customers", help="Import and export customers in bulk.")


@customers_cli.command("import")
@click.argument("csv_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--mode", type=click.Choice(MODES), default="best_effort", show_default=True)
@click.option("--on-conflict", type=click.Choice(ON_CONFLICT), default="reject", show_default=True)
def import_customers_command(csv_path: str, mode: str, on_conflict: str) -> None:
    """Import a CSV of customers (as POST /api/customers/import does), with a progress bar."""
    size = os.path.getsize(csv_path)
    with open(csv_path, "rb") as stream, click.progressbar(length=size, label="Importing", file=sys.stderr) as bar:
        # The bar moves once a batch, by the bytes read since the last one: not on every read of the file.
        progress = _BatchProgress(bar)
        try:
            totals = import_customers(
                stream, mode=mode, on_conflict=on_conflict, settings=current_settings(), on_batch=progress
            )
        except ServiceError as exc:
            raise click.ClickException(_reason(exc)) from None
    for error in totals.errors:
        click.echo(f"line {error.line}: {error.field} {error.message}" + (f" ({error.value})" if error.value else ""))
    if totals.stopped_at:
        click.echo(f"Reading stopped at {totals.stopped_at}.")
    click.echo(
        f"Read {totals.rows_read} rows: {totals.created} created, {totals.updated} updated, {totals.rejected} rejected."
    )
    if totals.stopped_at or (mode == "atomic" and totals.rejected):
        raise click.ClickException("nothing was stored" if mode == "atomic" else "the file was not read to the end")


class _BatchProgress:
    """The import's batch hook that advances a progress bar to the position read."""

    def __init__(self, bar):
        self.bar, self.offset = bar, 0

    def __call__(self, _totals: Totals, position: Position, _final: bool) -> None:
        self.bar.update(position.offset - self.offset)
        self.offset = position.offset


@customers_cli.command("export")
@click.option("--account-id", type=click.IntRange(1, 2**31 - 1))
def export_customers_command(account_id: int | None) -> None:
    """Write customers as CSV to standard output (`> out.csv`)."""
    rows = export_rows(CustomerFilters(account_id=account_id), current_settings().default_phone_region)
    for chunk in rows:
        click.echo(chunk, nl=False)


cashback_cli = AppGroup("cashback", help="Reconcile ERP sales with the partner cashback API.")


@cashback_cli.command("retry")
def retry_failed_command() -> None:
    """Send every sale whose forwarding failed to the partner again."""
    ids = failed_sale_ids()
    settings = current_settings()
    sent = 0
    for sale_id in ids:
        try:
            sale = retry(sale_id, settings)
        except ServiceError as exc:
            click.echo(f"{sale_id}: not retried ({_reason(exc)})")  # e.g. being sent by a worker right now
            continue
        sent += sale.status == "sent"
        click.echo(f"{sale.id}: {sale.status}" + (f" ({sale.last_error})" if sale.last_error else ""))
    click.echo(f"Retried {len(ids)} sales; {sent} sent, {len(ids) - sent} still failing.")


queue_cli = AppGroup("queue", help="Run the background work (mail, partner forwarding, imports, housekeeping).")


@queue_cli.command("worker")
@click.option("--workers", type=click.IntRange(1, 256), help="Worker threads; QUEUE_WORKERS when omitted.")
def queue_worker_command(workers: int | None) -> None:
    """Run the queue's workers in the foreground (with QUEUE_EMBEDDED=false in the web processes).

    SIGTERM stops taking tasks and lets the running ones finish (20 s at most); SIGINT stops at once.
    Work cut short is found again by housekeeping.
    """
    settings = current_settings()
    run_worker(settings, current_app._get_current_object().app_context, workers or settings.queue_workers)


def register_commands(app: Flask) -> None:
    """Add the project's command groups to `flask --app app`."""
    app.cli.add_command(users_cli)
    app.cli.add_command(cashback_cli)
    app.cli.add_command(customers_cli)
    app.cli.add_command(queue_cli)
