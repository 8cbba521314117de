"""Bounded HTTP load against 127.0.0.1: wrk when on PATH, else a keep-alive asyncio client in a subprocess.

Run as a module (`python -m bench.load ...`) it is that asyncio client and prints its result as JSON.
"""

import argparse
import asyncio
import json
import math
import random
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from bench.environment import BENCH_DIR, ROOT, python_exe

HOST = "127.0.0.1"
LUA_SCRIPT = BENCH_DIR / "random_path.lua"
FIXED_REQUEST_LUA = BENCH_DIR / "fixed_request.lua"
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
RESPONSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Target:
    """A request pattern: path, where "{id}" is replaced by a random line of ids_file, plus method, headers, body."""

    path: str
    ids_file: Path | None = None
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None

    def with_header(self, name: str, value: str) -> "Target":
        """This target with one more request header."""
        return replace(self, headers=(*self.headers, (name, value)))


@dataclass(frozen=True)
class LoadSpec:
    """How hard and how long to drive a target."""

    duration: float = 10.0
    connections: int = 16
    threads: int = 1
    tool: str = "auto"  # auto | wrk | python


@dataclass
class LoadResult:
    """What a load run achieved."""

    tool: str
    requests: int
    errors: int
    duration_s: float
    rps: float
    p50_ms: float
    p99_ms: float


def resolve_tool(tool: str) -> str:
    """The load generator to use: "wrk" if asked for or found on PATH, else "python"."""
    if tool == "auto":
        return "wrk" if shutil.which("wrk") else "python"
    if tool == "wrk" and not shutil.which("wrk"):
        raise RuntimeError("wrk requested but not found on PATH")
    return tool


def run_load(port: int, target: Target, spec: LoadSpec) -> LoadResult:
    """Drive target on 127.0.0.1:port for spec.duration seconds and return the result."""
    if resolve_tool(spec.tool) == "wrk":
        return run_wrk(port, target, spec)
    return run_python_client(port, target, spec)


def wrk_command(port: int, target: Target, spec: LoadSpec) -> list[str]:
    """The wrk command line: headers with -H; ids-file targets and non-GET/body targets go through a Lua script."""
    command = [
        "wrk",
        f"-t{spec.threads}",
        f"-c{spec.connections}",
        f"-d{max(1, round(spec.duration))}s",
        "--timeout",
        f"{RESPONSE_TIMEOUT:.0f}s",
        "--latency",
    ]
    for name, value in target.headers:
        command += ["-H", f"{name}: {value}"]
    custom = target.method != "GET" or target.body is not None
    if target.ids_file is not None:
        prefix, _, suffix = target.path.partition("{id}")
        script_args = [str(target.ids_file), prefix, suffix]
        if custom:
            script_args += [target.method] + ([target.body] if target.body is not None else [])
        return command + ["-s", str(LUA_SCRIPT), f"http://{HOST}:{port}/", "--", *script_args]
    if custom:
        script_args = [target.method, target.path] + ([target.body] if target.body is not None else [])
        return command + ["-s", str(FIXED_REQUEST_LUA), f"http://{HOST}:{port}/", "--", *script_args]
    return command + [f"http://{HOST}:{port}{target.path}"]


def run_wrk(port: int, target: Target, spec: LoadSpec) -> LoadResult:
    """Run wrk and parse its summary."""
    result = subprocess.run(wrk_command(port, target, spec), capture_output=True, text=True, timeout=spec.duration + 30)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed (exit {result.returncode}): {result.stderr.strip() or result.stdout}")
    return parse_wrk(result.stdout)


def to_ms(value: str) -> float:
    """A wrk duration such as "635.91us" or "1.20ms" in milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", value).groups()
    return float(number) * UNIT_MS[unit]


def parse_wrk(output: str) -> LoadResult:
    """Requests, errors, rate and p50/p99 from wrk --latency output."""
    match = re.search(r"(\d+) requests in ([\d.]+\w+),", output)
    requests, seconds = int(match.group(1)), to_ms(match.group(2)) / 1000
    percentiles = dict(re.findall(r"^\s+(\d+(?:\.\d+)?)%\s+([\d.]+\w+)\s*$", output, re.M))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = (int(non_2xx.group(1)) if non_2xx else 0) + (sum(map(int, socket_errors.groups())) if socket_errors else 0)
    return LoadResult(
        "wrk",
        requests,
        errors,
        seconds,
        requests / seconds if seconds else 0.0,
        to_ms(percentiles["50"]),
        to_ms(percentiles["99"]),
    )


def run_python_client(port: int, target: Target, spec: LoadSpec) -> LoadResult:
    """Run the asyncio client in its own process, so its CPU never competes inside ours."""
    command = [
        python_exe(),
        "-m",
        "bench.load",
        "--port",
        str(port),
        "--path",
        target.path,
        "--duration",
        str(spec.duration),
        "--connections",
        str(spec.connections),
        "--method",
        target.method,
    ]
    if target.ids_file is not None:
        command += ["--ids-file", str(target.ids_file)]
    for name, value in target.headers:
        command += ["--header", f"{name}: {value}"]
    if target.body is not None:
        command += ["--body", target.body]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=spec.duration + 30)
    if result.returncode != 0:
        raise RuntimeError(f"python load client failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return LoadResult(**json.loads(result.stdout))


# --- the asyncio client (runs in the subprocess) ---


class RequestMaker:
    """Produces raw HTTP/1.1 requests: a fixed path, or one with a random id from a list; same method/headers/body."""

    def __init__(self, template: str, ids: list[str], seed: int, port: int, method: str, headers: list[str], body: str):
        self.prefix, _, self.suffix = template.partition("{id}")
        self.ids, self.rng = ids, random.Random(seed)
        self.method = method
        lines = [f"Host: {HOST}:{port}", *headers] + ([f"Content-Length: {len(body.encode())}"] if body else [])
        self.tail = ("".join(f"{line}\r\n" for line in lines) + "\r\n" + body).encode()

    def next(self) -> bytes:
        """The next request to send."""
        path = self.prefix
        if self.ids:
            path += self.ids[self.rng.randrange(len(self.ids))] + self.suffix
        return f"{self.method} {path} HTTP/1.1\r\n".encode() + self.tail


async def read_chunked(reader: asyncio.StreamReader) -> None:
    """Consume a chunked body."""
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        if size == 0:
            return


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; returns (status, whether the server will close the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {k.strip().lower(): v.strip().lower() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if headers.get("transfer-encoding") == "chunked":
        await read_chunked(reader)
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers.get("connection") == "close"


async def connection_loop(port: int, maker: RequestMaker, deadline: float, stats: dict) -> None:
    """One keep-alive connection issuing requests back to back until the deadline."""
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            request = maker.next()
            started = time.perf_counter()
            writer.write(request)
            status, close = await asyncio.wait_for(read_response(reader), RESPONSE_TIMEOUT)
            stats["latencies"].append(time.perf_counter() - started)
            if not 200 <= status < 400:
                stats["errors"] += 1
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            stats["errors"] += 1
            close = True
        if close and writer is not None:
            writer.close()
            reader = writer = None
    if writer is not None:
        writer.close()


def percentile_ms(sorted_seconds: list[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted latencies, in milliseconds."""
    if not sorted_seconds:
        return 0.0
    return sorted_seconds[max(0, math.ceil(fraction * len(sorted_seconds)) - 1)] * 1000


async def drive(args: argparse.Namespace, ids: list[str]) -> LoadResult:
    """Run `args.connections` keep-alive loops for `args.duration` seconds and summarise them."""
    stats = {"latencies": [], "errors": 0}
    started = time.perf_counter()
    duration = args.duration
    deadline = started + duration
    loops = [
        connection_loop(
            args.port,
            RequestMaker(args.path, ids, seed, args.port, args.method, args.header, args.body),
            deadline,
            stats,
        )
        for seed in range(args.connections)
    ]
    await asyncio.wait_for(asyncio.gather(*loops), duration + RESPONSE_TIMEOUT + 5)
    elapsed = time.perf_counter() - started
    latencies = sorted(stats["latencies"])
    return LoadResult(
        "python",
        len(latencies),
        stats["errors"],
        elapsed,
        len(latencies) / elapsed,
        percentile_ms(latencies, 0.50),
        percentile_ms(latencies, 0.99),
    )


def main() -> None:
    """Command-line entry of the asyncio client; prints a LoadResult as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", required=True, help='request path; "{id}" is replaced by a random id')
    parser.add_argument("--ids-file", type=Path)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--method", default="GET")
    parser.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    parser.add_argument("--body", default="", help="request body (sent with a Content-Length)")
    args = parser.parse_args()
    ids = args.ids_file.read_text().split() if args.ids_file else []
    try:
        from uvloop import run  # optional: roughly doubles what one client process can push
    except ImportError:
        run = asyncio.run
    result = run(drive(args, ids))
    json.dump(asdict(result), sys.stdout)


if __name__ == "__main__":
    main()
