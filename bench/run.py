"""Run the benchmark scenarios: serve the app and the floor, load each endpoint, report server CPU per request.

Usage: .venv/bin/python -m bench.run [customers] [login] [orders] [import] [import-pg] [fleet] [--only floor]
                                    [--loadgen python] [--duration 10] [--import-rows 200000]
"""

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

if __package__ in (None, ""):  # run as `python bench/run.py`: make the bench package importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import fleet, import_bench, seed, servers  # noqa: E402
from bench.environment import CUSTOMER_FIELDS, DATA_DIR, STAFF_EMAIL, STAFF_PASSWORD, app_env  # noqa: E402
from bench.load import LoadResult, LoadSpec, Target, resolve_tool, run_load  # noqa: E402

FLOOR_APP = "bench.floor_app:app"
MAX_ERROR_RATE = 0.01
CUSTOMER_KEYS = set(CUSTOMER_FIELDS)
# The order every request of the orders scenario places (type A earns 5%: 5.04 cashback, 100 points).
ORDER_BODY = json.dumps({"total": "100.80", "items": [{"type": "A", "value": "50.40", "qty": 2}]})


@dataclass(frozen=True)
class Endpoint:
    """One endpoint to drive, with the app's target as a ratio of its CPU per request to the floor's (None: no
    target), a check of a sample response body and the status that sample must have."""

    label: str
    target: Target
    max_ratio: float | None
    check: Callable[[object], str | None]
    status: int = 200


@dataclass
class Measurement:
    """One server's figures on one endpoint; error is set when they must not be trusted."""

    load: LoadResult | None = None
    cpu_s: float | None = None
    cpu_ms_per_request: float | None = None
    error: str | None = None


def check_customer(body: object) -> str | None:
    """Problem with a customer JSON object, or None."""
    if not isinstance(body, dict):
        return "not a JSON object"
    # The app also answers the rewards summary, computed from the same row (points, cashback_balance).
    missing, extra = CUSTOMER_KEYS - body.keys(), body.keys() - CUSTOMER_KEYS - {"rewards"}
    return f"keys missing {sorted(missing)} extra {sorted(extra)}" if missing or extra else None


def check_page(body: object) -> str | None:
    """Problem with a page of customers, or None."""
    if not isinstance(body, dict) or not isinstance(body.get("items"), list) or "next_cursor" not in body:
        return 'not {"items": [...], "next_cursor": ...}'
    if len(body["items"]) != 20:
        return f"{len(body['items'])} items instead of 20"
    return check_customer(body["items"][0])


def check_login(body: object) -> str | None:
    """Problem with a login answer, or None."""
    return None if isinstance(body, dict) and "access_token" in body else 'not {"access_token": ...}'


def check_order(body: object) -> str | None:
    """Problem with a placed order's answer, or None."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("order"), dict)
        or not isinstance(body.get("rewards"), dict)
    ):
        return 'not {"order": {...}, "rewards": {...}}'
    order, rewards = body["order"], body["rewards"]
    if order.get("points") != 100 or order.get("cashback") != "5.04" or "id" not in order:
        return f"order id/points/cashback not (..., 100, '5.04'): {order}"
    return None if "points" in rewards and "cashback_balance" in rewards else f"rewards without balances: {rewards}"


def sample_path(target: Target) -> str:
    """A concrete path for target (the first id of its ids file)."""
    if target.ids_file is None:
        return target.path
    with open(target.ids_file) as f:
        return target.path.replace("{id}", f.readline().strip())


def smoke_check(server: servers.Server, endpoint: Endpoint) -> tuple[str | None, str | None]:
    """(error, warning) from one request: an unexpected status is an error, an unexpected body shape a warning."""
    target = endpoint.target
    path = sample_path(target)
    status, body = servers.http_request(server.port, target.method, path, target.body, dict(target.headers))
    if status != endpoint.status:
        return f"{target.method} {path} -> {status}: {body[:300].decode(errors='replace')}", None
    try:
        problem = endpoint.check(json.loads(body))
    except ValueError:
        problem = "body is not JSON"
    return None, (f"{target.method} {path}: {problem}" if problem else None)


def bearer_token(server: servers.Server) -> str:
    """An access token for the staff user, from the server's POST /api/auth/login."""
    credentials = json.dumps({"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    status, body = servers.http_request(
        server.port, "POST", "/api/auth/login", credentials, {"Content-Type": "application/json"}
    )
    if status != 200:
        raise RuntimeError(f"POST /api/auth/login -> {status}: {body[:300].decode(errors='replace')}")
    try:
        return json.loads(body)["access_token"]
    except (ValueError, KeyError, TypeError):
        raise RuntimeError(f"POST /api/auth/login: no access_token in {body[:300]!r}") from None


def load_error(load: LoadResult) -> str | None:
    """Why a load run counts as failed, or None."""
    if load.requests == 0:
        return "no request completed"
    if load.errors / load.requests > MAX_ERROR_RATE:
        return f"{load.errors} errors in {load.requests} requests (> {MAX_ERROR_RATE:.0%})"
    return None


def measure(server: servers.Server, endpoint: Endpoint, spec: LoadSpec, warmup: float) -> Measurement:
    """Warm up, then load the endpoint while snapshotting the server tree's CPU before and after."""
    try:
        error, warning = smoke_check(server, endpoint)
        if warning:
            print(f"  warning [{server.label}] {warning}", file=sys.stderr)
        if error:
            return Measurement(error=error)
        if warmup > 0:
            run_load(server.port, endpoint.target, replace(spec, duration=warmup))
        before = servers.cpu_snapshot(server.proc.pid)
        load = run_load(server.port, endpoint.target, spec)
        after = servers.cpu_snapshot(server.proc.pid)
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        return Measurement(error=f"{type(exc).__name__}: {exc}")
    cpu_s = servers.cpu_seconds_between(before, after)
    error = load_error(load)
    if before.keys() - after.keys():
        error = f"server processes {sorted(before.keys() - after.keys())} exited during the load"
    return Measurement(load, cpu_s, 1000 * cpu_s / load.requests if load.requests else None, error)


def measure_side(
    label: str,
    asgi_app: str,
    env: dict[str, str],
    endpoints: list[Endpoint],
    spec: LoadSpec,
    warmup: float,
    workers: int,
    authorize: bool = False,
) -> list[Measurement]:
    """Serve asgi_app and measure every endpoint on it; a server that will not start fails them all.

    With authorize, one staff login is made once the server is up and every request carries its bearer token.
    """
    production = asgi_app != FLOOR_APP  # the app is served as deployed: gunicorn with gunicorn.conf.py
    print(f"[{label}] starting {asgi_app} ({workers} workers)", file=sys.stderr)
    try:
        with servers.serving(label, asgi_app, env, workers, production=production) as server:
            if authorize:
                try:
                    header = f"Bearer {bearer_token(server)}"
                except (OSError, RuntimeError) as exc:
                    return [Measurement(error=f"no bearer token: {exc}") for _ in endpoints]
                endpoints = [replace(e, target=e.target.with_header("Authorization", header)) for e in endpoints]
            results = []
            for endpoint in endpoints:
                print(f"[{label}] {endpoint.label}: {warmup:g}s warm-up + {spec.duration:g}s load", file=sys.stderr)
                results.append(measure(server, endpoint, spec, warmup))
            return results
    except servers.ServerError as exc:
        return [Measurement(error=f"server failed to start: {exc}") for _ in endpoints]


def ratio(app: Measurement, floor: Measurement) -> float | None:
    """App CPU per request over floor CPU per request."""
    if app.cpu_ms_per_request is None or not floor.cpu_ms_per_request:
        return None
    return app.cpu_ms_per_request / floor.cpu_ms_per_request


def fmt(value: float | None, spec: str) -> str:
    """A number formatted with spec, or '-' when missing."""
    return "-" if value is None else format(value, spec)


def table_row(endpoint_label: str, side: str, m: Measurement, cpu_ratio: str) -> str:
    """One line of the results table."""
    load = m.load
    return (
        f"{endpoint_label:<30}{side:<7}{fmt(load and load.rps, '9.1f'):>9}{fmt(load and load.p50_ms, '.2f'):>9}"
        f"{fmt(load and load.p99_ms, '.2f'):>9}{fmt(m.cpu_ms_per_request, '.3f'):>12}{cpu_ratio:>11}"
    )


def target_met(endpoint: Endpoint, app: Measurement, floor: Measurement) -> bool | None:
    """Whether the app's CPU per request is within the endpoint's ratio to the floor (None: not measured, no target)."""
    measured = ratio(app, floor)
    if measured is None or endpoint.max_ratio is None or app.error or floor.error:
        return None
    return measured <= endpoint.max_ratio


def verdict(endpoint: Endpoint, app: Measurement, floor: Measurement) -> str:
    """PASS, FAIL or '-' for the target column."""
    return {True: "PASS", False: "FAIL", None: "-"}[target_met(endpoint, app, floor)]


def print_report(
    title: str,
    endpoints: list[Endpoint],
    app: list[Measurement],
    floor: list[Measurement],
    app_label: str,
    notes: list[str],
) -> None:
    """Print the app-vs-floor table, notes under it, the targets with PASS/FAIL (if any), and any errors."""
    print(f"\n{title}")
    print(f"{'endpoint':<30}{'server':<7}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/req':>12}{'app/floor':>11}")
    for endpoint, a, f in zip(endpoints, app, floor, strict=True):
        print(table_row(endpoint.label, app_label, a, fmt(ratio(a, f), ".2f") + "x" if ratio(a, f) else "-"))
        print(table_row("", "floor", f, ""))
    for note in notes:
        print(f"  {note}")
    targeted = [(e, a, f) for e, a, f in zip(endpoints, app, floor, strict=True) if e.max_ratio is not None]
    if targeted:
        print("\ntargets (app server CPU per request / floor's, same run):")
    for endpoint, a, f in targeted:
        measured = fmt(ratio(a, f), ".2f")
        print(f"  {endpoint.label:<30}<= {endpoint.max_ratio:.1f}x   {measured:>7}x   {verdict(endpoint, a, f)}")
    reported = set()
    for endpoint, a, f in zip(endpoints, app, floor, strict=True):
        for side, m in (("app", a), ("floor", f)):
            if m.error and (side, m.error) not in reported:
                reported.add((side, m.error))
                print(f"ERROR {side} {endpoint.label}: {m.error}")


def measurement_json(m: Measurement) -> dict:
    """A measurement as plain JSON values."""
    figures = {**(asdict(m.load) if m.load else {}), "cpu_s": m.cpu_s, "cpu_ms_per_request": m.cpu_ms_per_request}
    return {**{k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}, "error": m.error}


def write_results(scenario: str, payload: dict) -> Path:
    """Write a scenario's figures to bench/.data/results-<scenario>.json."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f"results-{scenario}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def customers_database(args: argparse.Namespace, app_is_floor: bool) -> tuple[Path, Path]:
    """The seeded customers database and ids file; schema from the migrations, or plain DDL for floor-only runs."""
    if seed.has_migrations():
        try:
            return seed.ensure_customers_db(args.rows, use_migrations=True, rebuild=args.rebuild)
        except RuntimeError as exc:
            if not app_is_floor:
                raise
            print(f"warning: {exc}\nfalling back to the built-in DDL (floor-only run)", file=sys.stderr)
    elif not app_is_floor:
        raise RuntimeError("app.py or migrations/ not found: run with --only floor until the app exists")
    return seed.ensure_customers_db(args.rows, use_migrations=False, rebuild=args.rebuild)


def serving_database(args: argparse.Namespace, app_is_floor: bool) -> tuple[Path, Path]:
    """(fresh copy of the cached database for the servers, ids file); builds the cache when needed."""
    started = time.monotonic()
    db_path, ids_path = customers_database(args, app_is_floor)
    args.rebuild = False  # --rebuild: once per run, not once per scenario
    copy_path = seed.working_copy(db_path)
    print(f"database ready in {time.monotonic() - started:.1f}s: {copy_path} (copy of {db_path.name})", file=sys.stderr)
    return copy_path, ids_path


def compare(
    args: argparse.Namespace,
    spec: LoadSpec,
    scenario: str,
    db_path: Path,
    endpoints: list[Endpoint],
    title: str,
    notes: list[str],
    authorize: bool,
) -> bool:
    """Measure the endpoints on the app then the floor, print the table, write the JSON; False on errors."""
    app_is_floor = args.only == "floor"
    env, app_target = app_env(db_path), FLOOR_APP if app_is_floor else args.app
    authorize = authorize and not app_is_floor  # the floor has no auth
    app = measure_side("app", app_target, env, endpoints, spec, args.warmup, args.workers, authorize)
    floor = measure_side("floor", FLOOR_APP, env, endpoints, spec, args.warmup, args.workers)
    if app_is_floor:
        notes = [*notes, "(* --only floor: the app side is also served by the floor app)"]
    served = f"app: gunicorn -c gunicorn.conf.py, {args.workers} workers; floor: uvicorn --workers {args.workers}"
    return report(args, spec, scenario, title, served, endpoints, (app, floor), notes, app_target, authorize)


def report(
    args: argparse.Namespace,
    spec: LoadSpec,
    scenario: str,
    title: str,
    served: str,
    endpoints: list[Endpoint],
    sides: tuple[list[Measurement], list[Measurement]],
    notes: list[str],
    app_target: str,
    authorize: bool,
) -> bool:
    """Print the app-vs-floor table and write the scenario's JSON; False when a measurement failed."""
    app, floor = sides
    loadgen = f"wrk -t{spec.threads}" if spec.tool == "wrk" else "python client"
    print_report(
        f"{scenario}: {title}, {loadgen} -c{spec.connections}, {spec.duration:g}s per endpoint after "
        f"{args.warmup:g}s warm-up, {served}",
        endpoints,
        app,
        floor,
        "floor*" if args.only == "floor" else "app",
        notes,
    )
    rows = [
        {
            "endpoint": e.label,
            "method": e.target.method,
            "path": e.target.path,
            "max_ratio": e.max_ratio,
            "app": measurement_json(a),
            "floor": measurement_json(f),
            "cpu_ratio": ratio(a, f),
            "target_pass": target_met(e, a, f),
        }
        for e, a, f in zip(endpoints, app, floor, strict=True)
    ]
    ok = not any(m.error for m in app + floor)
    path = write_results(
        scenario,
        {
            "scenario": scenario,
            "rows": args.rows,
            "app": app_target,
            "floor": FLOOR_APP,
            "served": served,
            "bearer_token": authorize,
            "loadgen": spec.tool,
            "threads": spec.threads,
            "connections": spec.connections,
            "duration_s": spec.duration,
            "warmup_s": args.warmup,
            "workers": args.workers,
            "ok": ok,
            "endpoints": rows,
        },
    )
    print(f"results: {path}")
    return ok


def customer_endpoints(ids_path: Path) -> list[Endpoint]:
    """GET one customer and GET a page of 20, with their targets (ratios to the floor)."""
    return [
        Endpoint("GET /customers/{id}", Target("/api/customers/{id}", ids_path), 12.0, check_customer),
        Endpoint("GET /customers?limit=20", Target("/api/customers?limit=20"), 10.0, check_page),
    ]


def order_endpoint(ids_path: Path) -> Endpoint:
    """POST the same order to random customers, within 4x the floor."""
    headers = (("Content-Type", "application/json"),)
    target = Target("/api/customers/{id}/orders", ids_path, "POST", headers, ORDER_BODY)
    return Endpoint("POST /customers/{id}/orders", target, 4.0, check_order, status=201)


def run_customers(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: GET one customer and GET a page of 20 with a staff bearer token, app vs floor."""
    db_path, ids_path = serving_database(args, args.only == "floor")
    endpoints = customer_endpoints(ids_path)
    notes = ["app requests carry a staff bearer token: checking it is part of the app's CPU; the floor has no auth"]
    if args.only == "floor":
        notes = []
    return compare(args, spec, "customers", db_path, endpoints, f"{args.rows:,} rows", notes, authorize=True)


def run_login(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: POST /api/auth/login with the staff credentials (argon2id), app vs floor; bound by the hash."""
    db_path, _ = serving_database(args, args.only == "floor")
    credentials = json.dumps({"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    target = Target("/api/auth/login", method="POST", headers=(("Content-Type", "application/json"),), body=credentials)
    endpoints = [Endpoint("POST /auth/login", target, 1.5, check_login)]
    notes = [
        "app: argon2id verify + session, refresh token, activity rows and tokens; "
        "floor: SELECT + argon2 verify in a thread",
        "CPU ms/req is server CPU per login; the target keeps a login bound by its password hash",
    ]
    login_spec = replace(spec, connections=args.login_connections)
    return compare(args, login_spec, "login", db_path, endpoints, "staff user", notes, authorize=False)


def run_orders(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: POST /api/customers/{id}/orders for random customers with a staff bearer token, within 4x."""
    db_path, ids_path = serving_database(args, args.only == "floor")
    endpoints = [order_endpoint(ids_path)]
    notes = [
        "one write transaction per order (SQLite WAL, writers queue on BEGIN IMMEDIATE): order, item, guarded "
        "points/cashback UPDATE, ledger entry",
        "app: + bearer token, validation, activity row, tiers in the answer; floor: stdlib sqlite3 in a thread, "
        "no auth",
        "CPU ms/req is server CPU per order",
    ]
    if args.only == "floor":
        notes = notes[::2]
    orders_spec = replace(spec, connections=args.orders_connections)
    return compare(args, orders_spec, "orders", db_path, endpoints, "random customers", notes, authorize=True)


def run_import(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: upload a 1,000,000-row member CSV to POST /api/customers/import; wall time, peak RSS, CPU, next to
    a stdlib sqlite3 executemany of the same rows (see import_bench.py)."""
    return import_bench.run(args)


def run_import_pg(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: a 5,000,000-row member CSV to the fleet on PostgreSQL; rows/s beside a COPY floor (import_bench.py)."""
    if args.only == "floor":
        print("[import-pg] skipped with --only floor", file=sys.stderr)
        return True
    return import_bench.run_pg(args)


def run_fleet(args: argparse.Namespace, spec: LoadSpec) -> bool:
    """Scenario: one customer, a page and an order through nginx to gunicorn on PostgreSQL (bench/fleet.py)."""
    if args.only == "floor":
        print("[fleet] skipped with --only floor", file=sys.stderr)
        return True
    return fleet.run(args, spec)


SCENARIOS: dict[str, Callable[[argparse.Namespace, LoadSpec], bool]] = {
    "customers": run_customers,
    "login": run_login,
    "orders": run_orders,
    "import": run_import,
    "import-pg": run_import_pg,
    "fleet": run_fleet,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "scenarios", nargs="*", metavar="scenario", help=f"scenarios to run (default: all of {', '.join(SCENARIOS)})"
    )
    parser.add_argument("--only", choices=["floor"], help="serve the app side with the floor app too (app not ready)")
    parser.add_argument("--app", default="app:app", help="ASGI import string of the app (default: app:app)")
    parser.add_argument(
        "--loadgen",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (default: wrk if on PATH, else the Python client)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per endpoint and server")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured warm-up seconds before each load")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--login-connections", type=int, default=8, help="connections for the login scenario")
    parser.add_argument("--orders-connections", type=int, default=8, help="connections for the orders scenario")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (1 leaves the 2nd core to the server)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per server")
    parser.add_argument("--rows", type=int, default=100_000, help="customers to seed")
    parser.add_argument("--fleet-workers", type=int, default=4, help="gunicorn workers in the fleet scenario")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached databases and the import CSV")
    parser.add_argument(
        "--import-rows", type=int, help="rows of the import CSV (default 1,000,000 for import, 5,000,000 for import-pg)"
    )
    parser.add_argument("--import-workers", type=int, default=2, help="gunicorn workers in the import scenario")
    parser.add_argument("--import-timeout", type=float, default=900.0, help="seconds to wait for the import report")
    parser.add_argument("--profile", action="store_true", help="import: py-spy the server, print the top functions")
    args = parser.parse_args(argv)
    args.rebuild_import = args.rebuild  # serving_database() clears args.rebuild once the customers cache is built
    unknown = set(args.scenarios) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    return args


def exit_on_signal(signum, frame) -> None:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so the finally blocks stop the servers."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Run the chosen scenarios; 0 when every server started and every load stayed under 1% errors."""
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, exit_on_signal)
    signal.signal(signal.SIGHUP, exit_on_signal)
    spec = LoadSpec(args.duration, args.connections, args.threads, resolve_tool(args.loadgen))
    ok = True
    try:
        for name in args.scenarios or list(SCENARIOS):
            ok = SCENARIOS[name](args, spec) and ok
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
