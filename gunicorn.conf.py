"""Gunicorn settings for production: `gunicorn -c gunicorn.conf.py app:app`."""

import os
import sys

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


def on_starting(server):
    """Check the settings in the master, before any worker starts: a refused one stops gunicorn, saying why."""
    try:
        load_settings()
    except ConfigurationError as error:
        server.log.error("cannot start: %s", error)
        sys.exit(STARTUP_FAILURE)
