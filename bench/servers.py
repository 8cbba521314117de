"""Start and stop uvicorn servers on 127.0.0.1, and account the CPU time of a server's process tree."""

import http.client
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from bench.environment import DATA_DIR, ROOT, python_exe

HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerError(RuntimeError):
    """A server did not start or did not become healthy."""


@dataclass
class Server:
    """A running uvicorn master process (workers are its children)."""

    label: str
    proc: subprocess.Popen
    port: int
    log_path: Path


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def uvicorn_command(asgi_app: str, port: int, workers: int) -> list[str]:
    """The uvicorn command line for an ASGI import string."""
    # --log-level warning: keeps uvicorn's per-request access log out of both sides' CPU figures.
    return [
        python_exe(),
        "-m",
        "uvicorn",
        asgi_app,
        "--workers",
        str(workers),
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]


def gunicorn_command(asgi_app: str) -> list[str]:
    """gunicorn with the production settings (gunicorn.conf.py); HOST, PORT and WEB_CONCURRENCY come from the env."""
    return [python_exe(), "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), asgi_app]


def http_request(
    port: int,
    method: str,
    path: str,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One request to the server; returns (status, body)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body.encode() if body is not None else None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET to the server; returns (status, body)."""
    return http_request(port, "GET", path, timeout=timeout)


def log_tail(server: Server, chars: int = 3000) -> str:
    """The end of a server's log, for error messages."""
    try:
        return server.log_path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def wait_healthy(server: Server, timeout: float) -> None:
    """Poll GET /api/health until it answers 200, the process dies, or timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise ServerError(f"{server.label} exited with {server.proc.returncode}:\n{log_tail(server)}")
        try:
            if http_get(server.port, "/api/health", timeout=2.0)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerError(f"{server.label}: /api/health not 200 within {timeout:.0f}s:\n{log_tail(server)}")


def spawn(label: str, argv: list[str], env: dict[str, str], port: int = 0) -> Server:
    """Start argv in the checkout, its output in bench/.data/server-<label>.log; `port` is where it serves, if any."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    log_path = DATA_DIR / f"server-{label}.log"
    with open(log_path, "wb") as log:
        # Own session: Ctrl-C in the terminal reaches us, and we stop the whole group in order.
        proc = subprocess.Popen(  # noqa: S603
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(label, proc, port, log_path)


def start_server(
    label: str, asgi_app: str, env: dict[str, str], workers: int = 2, timeout: float = 60.0, production: bool = False
) -> Server:
    """Start asgi_app and wait until it is healthy; stops it again on failure.

    production: under gunicorn with gunicorn.conf.py (as deployed), else under plain uvicorn (the floor).
    """
    port = free_port()
    if production:
        env = {**env, "HOST": HOST, "PORT": str(port), "WEB_CONCURRENCY": str(workers)}
        server = spawn(label, gunicorn_command(asgi_app), env, port)
    else:
        server = spawn(label, uvicorn_command(asgi_app, port, workers), env, port)
    try:
        wait_healthy(server, timeout)
    except BaseException:
        stop_server(server)
        raise
    return server


def signal_group(server: Server, sig: int) -> None:
    """Send sig to the server's process group (the master and its workers)."""
    with suppress(ProcessLookupError):
        os.killpg(server.proc.pid, sig)


def stop_server(server: Server, grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL whatever is left after grace seconds."""
    signal_group(server, signal.SIGTERM)
    try:
        server.proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    finally:
        # Also reached on a second Ctrl-C during the grace period; workers outliving the master die here too.
        signal_group(server, signal.SIGKILL)
        server.proc.wait()


@contextmanager
def serving(label: str, asgi_app: str, env: dict[str, str], workers: int = 2, production: bool = False):
    """Context manager: a healthy server for the duration of the block, always stopped afterwards."""
    server = start_server(label, asgi_app, env, workers, production=production)
    try:
        yield server
    finally:
        stop_server(server)


def read_stat(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name (field 3 onwards), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    # The command name may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def process_tree(root_pid: int) -> list[int]:
    """root_pid and all its descendants, found by scanning every process's parent pid."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = read_stat(int(entry.name))
            if fields:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, pending = [], [root_pid]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending.extend(children.get(pid, []))
    return tree


def cpu_snapshot(root_pid: int) -> dict[int, int]:
    """utime+stime in clock ticks for every process in the tree of root_pid."""
    snapshot = {}
    for pid in process_tree(root_pid):
        fields = read_stat(pid)
        if fields:
            snapshot[pid] = int(fields[11]) + int(fields[12])  # stat fields 14 (utime) and 15 (stime)
    return snapshot


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) of a process in KiB from /proc/<pid>/status, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            fields = dict(line.split(":", 1) for line in f if line.startswith(("VmRSS:", "VmHWM:")))
    except OSError:
        return None
    if "VmRSS" not in fields or "VmHWM" not in fields:
        return None  # a zombie has no memory lines
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def memory_snapshot(root_pid: int) -> dict[int, tuple[int, int]]:
    """(VmRSS, VmHWM) in KiB for every process in the tree of root_pid."""
    snapshot = {}
    for pid in process_tree(root_pid):
        memory = memory_kb(pid)
        if memory:
            snapshot[pid] = memory
    return snapshot


def cpu_seconds_between(before: dict[int, int], after: dict[int, int]) -> float:
    """CPU seconds the tree used between two snapshots (processes born in between count fully)."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return ticks / CLOCK_TICKS
