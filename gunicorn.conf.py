"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app`."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

from config import ConfigurationError, load_settings

STARTUP_FAILURE = 3  # as a worker that cannot boot (app.STARTUP_FAILURE): the exit status of a refused start

_host, _port = os.environ.get("HOST", "127.0.0.1"), os.environ.get("PORT", "8000")
bind = f"[{_host}]:{_port}" if ":" in _host else f"{_host}:{_port}"  # an IPv6 host is written in brackets
worker_class = "uvicorn_worker.UvicornWorker"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Neither gunicorn nor uvicorn may rewrite the client address from X-Forwarded-For: the app reads it
# itself, and only from the proxies named in TRUSTED_PROXIES, the one setting for this.
# (uvicorn_worker hands this list to uvicorn as its forwarded_allow_ips; empty trusts nobody.)
forwarded_allow_ips = ""
# Gunicorn's control socket sits at one path per user ($HOME/.gunicorn): two services would clash.
control_socket_disable = True


METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_made_dirs: list[Path] = []  # the metrics directory this master made itself, removed when it stops


def on_starting(server):
    """Check the settings in the master, before any worker starts: a refused one stops gunicorn, saying why."""
    try:
        load_settings()
    except ConfigurationError as error:
        server.log.error("cannot start: %s", error)
        sys.exit(STARTUP_FAILURE)
    _fresh_metrics_dir(server)


def _fresh_metrics_dir(server) -> None:
    """Give the workers one empty directory for their metrics files (they inherit the variable)."""
    # A scrape answered by any worker adds up the files of all; files of an earlier run would be added too.
    given = os.environ.get(METRICS_DIR_VARIABLE, "").strip()
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.db"):
            # Files of processes still running stay: a queue worker sharing the directory keeps its counts.
            if not _running(leftover.stem.rpartition("_")[2]):
                leftover.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="customer-interface-metrics-"))
        os.environ[METRICS_DIR_VARIABLE] = str(directory)
        _made_dirs.append(directory)
    server.log.info("metrics of the workers are kept in %s", directory)


def _running(pid: str) -> bool:
    """Whether `pid` (from a metrics file's name) is a process running now."""
    return pid.isdigit() and Path(f"/proc/{pid}").exists()


def child_exit(_server, worker):
    """A worker ended: its live gauges no longer count (its counters and histograms still do)."""
    # Imported here, never at the top: prometheus_client picks its storage when first imported, and a
    # master importing it before setting the variable would hand that choice to every worker it forks.
    from prometheus_client import multiprocess

    if os.environ.get(METRICS_DIR_VARIABLE):
        multiprocess.mark_process_dead(worker.pid)


def on_exit(_server):
    """The server stops: remove the metrics directory it made for itself (never one it was given)."""
    for directory in _made_dirs:
        shutil.rmtree(directory, ignore_errors=True)
