"""The production fleet on loopback: Debian's nginx with deploy/'s site, in front of gunicorn (gunicorn.conf.py) and
a queue worker, on a PostgreSQL database of the bench's own and Redis; and the same nginx in front of the floor.

Scenario `fleet`: a single GET, a 20-row page and an order, loaded through nginx; the floor app (uvicorn, same
worker count, SQLite) behind a second nginx of the same site is the floor, measured in the same run.
"""

import argparse
import os
import shutil
import sqlite3
import subprocess
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from bench import seed, servers
from bench.environment import DATA_DIR, ROOT, app_env, python_exe

SITE = ROOT / "deploy" / "nginx" / "customer-interface.conf"
# A superuser's URL without a database: the bench makes and drops its own databases there.
POSTGRES_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
QUEUE_DB, RATE_LIMITS_DB = 13, 14  # the bench's own Redis databases: emptied at each start


def conninfo(name: str) -> str:
    """libpq URL of the database `name` on the bench's PostgreSQL server."""
    return f"{POSTGRES_SERVER}/{name}"


def postgres_url(name: str) -> str:
    """SQLAlchemy URL of the database `name` on the bench's PostgreSQL server."""
    return conninfo(name).replace("postgresql://", "postgresql+psycopg://", 1)


@contextmanager
def postgres_database(name: str):
    """A new, empty PostgreSQL database for the block (dropped afterwards, and first if left by a killed run)."""
    import psycopg

    def run(statement: str) -> None:
        with psycopg.connect(conninfo("postgres"), autocommit=True, connect_timeout=5) as conn:
            conn.execute(statement)

    run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    run(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fleet_env(database_url: str, workers: int, port: int) -> dict[str, str]:
    """Environment of the fleet's processes: production settings, the queue and rate limits on Redis."""
    import redis

    for number in (QUEUE_DB, RATE_LIMITS_DB):
        with redis.Redis.from_url(f"{REDIS_URL}/{number}", socket_timeout=5) as client:
            client.flushdb()
    return {
        **app_env(Path("unused.db")),
        "DATABASE_URL": database_url,
        "HOST": servers.HOST,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(workers),
        "TRUSTED_PROXIES": "127.0.0.1",
        "QUEUE_URL": f"{REDIS_URL}/{QUEUE_DB}",
        "QUEUE_EMBEDDED": "false",
        "RATE_LIMIT_STORAGE_URL": f"{REDIS_URL}/{RATE_LIMITS_DB}",
        "IMPORT_DIR": str(DATA_DIR / "fleet-imports"),
        "PROMETHEUS_MULTIPROC_DIR": str(DATA_DIR / "fleet-metrics"),
    }


def flask(env: dict[str, str], what: str, *arguments: str) -> None:
    """`flask --app app ...` in env; a failure is a RuntimeError naming `what`."""
    result = subprocess.run(  # noqa: S603
        [python_exe(), "-m", "flask", "--app", "app", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{(result.stderr or result.stdout)[-2000:]}")


def copy_customers(sqlite_path: Path, database_url: str) -> None:
    """The seeded customers of the SQLite cache, into PostgreSQL with COPY (every column as it is stored)."""
    import psycopg

    source = sqlite3.connect(sqlite_path)
    try:
        columns = [row[1] for row in source.execute("PRAGMA table_info(customers)")]
        booleans = {row[1] for row in source.execute("PRAGMA table_info(customers)") if row[2].upper() == "BOOLEAN"}
        rows = source.execute(f"SELECT {', '.join(columns)} FROM customers ORDER BY pk")  # noqa: S608
        with psycopg.connect(database_url.replace("+psycopg", "", 1)) as target, target.cursor() as cursor:
            with cursor.copy(f"COPY customers ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(
                        [bool(v) if c in booleans and v is not None else v for c, v in zip(columns, row, strict=True)]
                    )
            cursor.execute("SELECT setval(pg_get_serial_sequence('customers', 'pk'), (SELECT max(pk) FROM customers))")
            cursor.execute("ANALYZE customers")
    finally:
        source.close()


@contextmanager
def process(label: str, argv: list[str], env: dict[str, str], port: int | None = None):
    """A process of the fleet for the block (healthy first when it serves `port`), stopped afterwards."""
    server = servers.spawn(f"fleet-{label}", argv, env, port or 0)
    try:
        if port is not None:
            servers.wait_healthy(server, timeout=60)
        yield server
    finally:
        servers.stop_server(server, grace=30)


def nginx_binary() -> str:
    """Debian's nginx, or a RuntimeError saying how to get it."""
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if found is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx): the fleet scenario serves through it")
    return found


@contextmanager
def nginx(label: str, upstream_port: int):
    """deploy/'s site on a free loopback port in front of 127.0.0.1:upstream_port; the Server is nginx's master."""
    directory = DATA_DIR / f"nginx-{label}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    port = servers.free_port()
    site = SITE.read_text().replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{upstream_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{port};").replace("/srv/customer-interface", str(ROOT))
    (directory / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(
        f"    {kind}_temp_path {directory / kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (directory / "nginx.conf").write_text(
        f"{user}worker_processes auto;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} warn;\n"
        f"events {{ worker_connections 1024; }}\nhttp {{\n    access_log off;\n{temp}"
        f"    include {directory / 'site.conf'};\n}}\n"
    )
    argv = [
        nginx_binary(),
        "-p",
        str(directory),
        "-c",
        str(directory / "nginx.conf"),
        "-e",
        str(directory / "error.log"),
        "-g",
        "daemon off;",
    ]
    with process(f"nginx-{label}", argv, os.environ.copy(), port) as server:
        yield server


@dataclass(frozen=True)
class Fleet:
    """The running fleet: nginx (the address to load), the gunicorn master and the queue worker."""

    front: servers.Server
    web: servers.Server
    queue: servers.Server


@contextmanager
def app_fleet(database_url: str, workers: int, queue_threads: int = 1, **settings: str):
    """gunicorn with `workers` workers and a queue worker of `queue_threads` threads on database_url (`settings`
    added to their environment), behind nginx."""
    port = servers.free_port()
    env = {**fleet_env(database_url, workers, port), **settings}
    with ExitStack() as stack:
        web = stack.enter_context(
            process("gunicorn", servers.gunicorn_command("app:app"), env, port)
        )
        worker = [python_exe(), "-m", "flask", "--app", "app", "queue", "worker", "--workers", str(queue_threads)]
        queue = stack.enter_context(process("queue-worker", worker, env))
        front = stack.enter_context(nginx("app", port))
        if queue.proc.poll() is not None:
            raise servers.ServerError(f"the queue worker exited:\n{servers.log_tail(queue)}")
        yield Fleet(front, web, queue)


def measure_all(bench, server: servers.Server, endpoints: list, spec, warmup: float, authorize: bool = False) -> list:
    """Every endpoint measured on a running server (with a staff bearer token when authorize)."""
    if authorize:
        header = f"Bearer {bench.bearer_token(server)}"
        endpoints = [replace(e, target=e.target.with_header("Authorization", header)) for e in endpoints]
    return [bench.measure(server, endpoint, spec, warmup) for endpoint in endpoints]


def run(args: argparse.Namespace, spec) -> bool:
    """Scenario `fleet`: the customers and orders endpoints through nginx, on PostgreSQL, app vs floor."""
    from bench import run as bench  # the scenarios' module: their endpoints, measuring and report

    db_path, ids_path = seed.ensure_customers_db(args.rows, use_migrations=True, rebuild=args.rebuild)
    args.rebuild = False
    # No targets here: they are for 2 workers on SQLite (the customers and orders scenarios).
    endpoints = [
        replace(e, max_ratio=None) for e in (*bench.customer_endpoints(ids_path), bench.order_endpoint(ids_path))
    ]
    with postgres_database("bench_fleet") as url:
        env = {**app_env(db_path), "DATABASE_URL": url}
        flask(env, "migration", "db", "upgrade")
        copy_customers(db_path, url)
        flask(env, "creating the staff user", *seed.STAFF_USER_COMMAND)
        with app_fleet(url, args.fleet_workers) as fleet:
            web = replace(fleet.web, port=fleet.front.port)  # loaded through nginx, CPU of gunicorn's workers
            app = measure_all(bench, web, endpoints, spec, args.warmup, authorize=True)
    floor_db = seed.working_copy(db_path, "fleet-floor.db")
    with ExitStack() as stack:
        floor_server = stack.enter_context(
            servers.serving("floor", bench.FLOOR_APP, app_env(floor_db), args.fleet_workers)
        )
        front = stack.enter_context(nginx("floor", floor_server.port))
        floor = measure_all(bench, replace(floor_server, port=front.port), endpoints, spec, args.warmup)
    notes = [
        f"app: gunicorn -w {args.fleet_workers} and 1 queue worker on PostgreSQL and Redis; floor: uvicorn --workers "
        f"{args.fleet_workers} on SQLite; both behind nginx (deploy/'s site)",
        "CPU ms/req counts the web processes only (not nginx, PostgreSQL or Redis)",
    ]
    served = f"{args.fleet_workers} web workers behind nginx"
    title = f"{args.rows:,} customers on PostgreSQL"
    return bench.report(args, spec, "fleet", title, served, endpoints, (app, floor), notes, "gunicorn app:app", True)
