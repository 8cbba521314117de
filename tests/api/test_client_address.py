"""The client address (rate limits, the activity trail) comes from X-Forwarded-For only via TRUSTED_PROXIES."""

import asyncio
import ipaddress
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from api.request_context import UNKNOWN_CLIENT, RequestContextMiddleware, resolve_client_address
from config import ConfigurationError, load_settings
from services.context import client_address_var
from tests.conftest import free_port, wait_for_health

ROOT = Path(__file__).resolve().parent.parent.parent
# What a client may claim, one per sign-in attempt, and the address each names.
CLAIMS = ["203.0.113.1", "203.0.113.2:4711", "[2001:db8::3]:4711", "203.0.113.4"]
CLAIMED = ["203.0.113.1", "203.0.113.2", "2001:db8::3", "203.0.113.4"]
SERVERS = {
    "python app.py": [sys.executable, "app.py"],
    "gunicorn": [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app:app"],
    "uvicorn": [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}"],
    "uvicorn --no-proxy-headers": [
        *[sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}"],
        "--no-proxy-headers",
    ],
}


def networks(text: str) -> tuple:
    return tuple(ipaddress.ip_network(entry) for entry in text.split(",") if entry)


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "trusted", "expected"),
    [
        ("127.0.0.1", ["203.0.113.9"], "", "127.0.0.1"),  # trust nobody by default, loopback included
        ("198.51.100.7", ["203.0.113.9"], "127.0.0.1", "198.51.100.7"),  # untrusted peer: header ignored
        ("127.0.0.1", [], "127.0.0.1", "127.0.0.1"),  # a proxy's own request
        ("127.0.0.1", ["6.6.6.6, 203.0.113.9"], "127.0.0.1", "203.0.113.9"),  # what the client claimed is left
        ("10.0.0.2", ["203.0.113.9, 10.0.0.1"], "10.0.0.0/8", "203.0.113.9"),  # a chain of trusted proxies
        ("10.0.0.2", ["6.6.6.6, 203.0.113.9", "10.0.0.1"], "10.0.0.0/8", "203.0.113.9"),  # headers joined
        ("10.0.0.2", ["10.0.0.3, 10.0.0.1"], "10.0.0.0/8", "10.0.0.3"),  # every hop trusted: the first
        ("10.0.0.2", ["203.0.113.9, bogus, 10.0.0.1"], "10.0.0.0/8", "10.0.0.1"),  # malformed: last trusted
        ("10.0.0.2", ["203.0.113.9, unknown"], "10.0.0.0/8", "10.0.0.2"),
        ("10.0.0.2", [""], "10.0.0.0/8", "10.0.0.2"),
        ("127.0.0.1", ["203.0.113.9:4711"], "127.0.0.1", "203.0.113.9"),  # a port is dropped
        ("::1", ["2001:DB8::9"], "::1", "2001:db8::9"),  # IPv6, written canonically
        ("2001:db8::5", ["[2001:db8:1::9]:443, 2001:db8::7"], "2001:db8::/64", "2001:db8:1::9"),
        ("::ffff:127.0.0.1", ["203.0.113.9"], "127.0.0.1", "203.0.113.9"),  # IPv4 on a dual-stack socket
        (None, ["203.0.113.9"], "127.0.0.1", None),  # no peer address (Unix socket): nothing to trust
        ("testclient", ["203.0.113.9"], "127.0.0.1", "testclient"),
    ],
)
def test_resolve_client_address(peer, forwarded_for, trusted, expected):
    """X-Forwarded-For is read from the right, and only while each hop is a trusted proxy."""
    assert resolve_client_address(peer, forwarded_for, networks(trusted)) == expected


async def _address_seen(client: tuple, forwarded_for: str, trusted: str = "") -> str | None:
    seen = []

    async def inner(_scope, _receive, _send):
        seen.append(client_address_var.get())

    middleware = RequestContextMiddleware(inner, trusted_proxies=networks(trusted))
    headers = [(b"x-forwarded-for", forwarded_for.encode())]
    await middleware({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": client}, None, None)
    return seen[0]


@pytest.mark.parametrize(
    ("client", "forwarded_for", "expected"),
    [
        (("203.0.113.9", 0), "203.0.113.9", UNKNOWN_CLIENT),  # uvicorn took it from an entry without a port
        (("203.0.113.9", 4711), "203.0.113.9:4711", UNKNOWN_CLIENT),  # ... or with one
        (("2001:db8::9", 4711), "[2001:db8::9]:4711", UNKNOWN_CLIENT),
        (("127.0.0.1", 50123), "203.0.113.9", "203.0.113.9"),  # a real peer, a trusted proxy
        (("198.51.100.7", 50123), "203.0.113.9", "198.51.100.7"),  # a real peer, untrusted
    ],
)
def test_an_address_the_server_took_from_the_header_is_not_believed(client, forwarded_for, expected):
    """When the server already replaced the peer from X-Forwarded-For, the app keeps a placeholder."""
    assert asyncio.run(_address_seen(client, forwarded_for, trusted="127.0.0.1")) == expected


def test_trusted_proxies_setting():
    """TRUSTED_PROXIES is parsed once into networks; empty trusts nobody; a bad entry is named."""
    base = {"APP_ENV": "test", "SECRET_KEY": "s" * 40, "DATABASE_URL": "sqlite://"}
    parsed = load_settings({**base, "TRUSTED_PROXIES": " 127.0.0.1, 10.0.0.0/8 ,::1,"}).trusted_proxies
    assert parsed == networks("127.0.0.1/32,10.0.0.0/8,::1/128")
    assert load_settings({**base, "TRUSTED_PROXIES": ""}).trusted_proxies == ()
    for bad in ("nginx", "10.0.0.1/8", "300.1.1.1"):
        with pytest.raises(ConfigurationError, match=f"TRUSTED_PROXIES: '{bad}'"):
            load_settings({**base, "TRUSTED_PROXIES": f"127.0.0.1,{bad}"})


def _serve_and_sign_in(tmp_path: Path, server: str, trusted: str) -> tuple[list[int], list[str], str]:
    """Four failed sign-ins from 127.0.0.1, each claiming another address; the answers, trail and log."""
    port = free_port()
    database = tmp_path / "serve.db"
    env = {
        **os.environ,
        "APP_ENV": "test",
        "SECRET_KEY": "k" * 40,
        "DATABASE_URL": f"sqlite:///{database}",
        "QUEUE_URL": f"sqlite:///{tmp_path / 'queue.db'}",
        "AUTO_MIGRATE": "true",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
        "RATE_LIMIT_STORAGE_URL": "memory://",
        "RATE_LIMIT_LOGIN": "3/minute",
        "TRUSTED_PROXIES": trusted,
    }
    env.pop("FORWARDED_ALLOW_IPS", None)  # the servers' own defaults
    log = tmp_path / "server.log"
    argv = [part.format(port=port) for part in SERVERS[server]]
    with log.open("w") as output:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_health(f"http://127.0.0.1:{port}", process, log, 20)
        statuses = [
            httpx.post(
                f"http://127.0.0.1:{port}/api/auth/login",
                json={"email": f"nobody{number}@example.com", "password": "not the password"},
                headers={"X-Forwarded-For": claim},
                timeout=10,
            ).status_code
            for number, claim in enumerate(CLAIMS)
        ]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT client_address FROM activity WHERE action = 'auth.login_failed' ORDER BY pk")
        trail = [address for (address,) in rows]
    return statuses, trail, log.read_text()


@pytest.mark.subprocess
@pytest.mark.parametrize(
    ("server", "recorded"),
    [
        ("python app.py", "127.0.0.1"),
        ("gunicorn", "127.0.0.1"),
        ("uvicorn --no-proxy-headers", "127.0.0.1"),
        ("uvicorn", UNKNOWN_CLIENT),  # its defaults rewrite the peer: the true one is lost
    ],
)
def test_a_client_cannot_pick_its_address(tmp_path, server, recorded):
    """Without TRUSTED_PROXIES a claimed X-Forwarded-For changes nothing: one address, one limit."""
    statuses, trail, log = _serve_and_sign_in(tmp_path, server, trusted="")
    assert statuses == [401, 401, 401, 429]  # 3/minute per address, whatever each request claimed
    assert trail == [recorded] * 3
    warnings = log.count("the server replaced the client address from X-Forwarded-For")
    assert warnings == (1 if recorded == UNKNOWN_CLIENT else 0), log


@pytest.mark.subprocess
@pytest.mark.parametrize("server", ["python app.py", "gunicorn", "uvicorn --no-proxy-headers"])
def test_a_trusted_proxy_names_the_client(tmp_path, server):
    """With TRUSTED_PROXIES=127.0.0.1 each claimed address is the client: its own limit, in the trail."""
    statuses, trail, _ = _serve_and_sign_in(tmp_path, server, trusted="127.0.0.1")
    assert statuses == [401] * 4
    assert trail == CLAIMED
