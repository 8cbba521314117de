"""Command-line tasks: `flask --app app users create|import ...`, `flask --app app cashback retry`."""

import csv

import click
from flask import Flask
from flask.cli import AppGroup

from services.cashback import failed_sale_ids, retry
from services.errors import ServiceError
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
        user = add_user(email, password, role)
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
    for line, row in enumerate(reader, start=2):
        row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
        names = {k: row.get(k) or None for k in ("first_name", "last_name")}
        try:
            import_user(row["email"], row["password_hash"], row.get("role") or "customer", **names)
            imported += 1
        except ServiceError as exc:
            refused += 1
            click.echo(f"line {line}: {_reason(exc)}", err=True)
    click.echo(f"Imported {imported} users; refused {refused}.")


def _reason(exc: ServiceError) -> str:
    errors = getattr(exc, "errors", None)
    return "; ".join(f"{e.field} {e.message}" for e in errors) if errors else exc.detail


cashback_cli = AppGroup("cashback", help="Reconcile ERP sales with the partner cashback API.")


@cashback_cli.command("retry")
def retry_failed_command() -> None:
    """Send every sale whose forwarding failed to the partner again."""
    ids = failed_sale_ids()
    sent = 0
    for sale_id in ids:
        try:
            sale = retry(sale_id)
        except ServiceError as exc:
            raise click.ClickException(_reason(exc)) from None
        sent += sale.status == "sent"
        click.echo(f"{sale.id}: {sale.status}" + (f" ({sale.last_error})" if sale.last_error else ""))
    click.echo(f"Retried {len(ids)} sales; {sent} sent, {len(ids) - sent} still failing.")


def register_commands(app: Flask) -> None:
    """Add the project's command groups to `flask --app app`."""
    app.cli.add_command(users_cli)
    app.cli.add_command(cashback_cli)
