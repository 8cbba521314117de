"""The production recipe in deploy/ is checked by the tools that will read it: nginx -t on the site,
systemd-analyze verify on the units, docker compose config on the fleet.

Each check is skipped, saying why, when its tool is not installed. Each has a twin feeding it a broken copy,
so that a check which cannot fail (a tool that ignores its input, a rewrite that hides the file) is noticed.
"""

import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SITE = DEPLOY / "nginx" / "customer-interface.conf"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
COMPOSE = DEPLOY / "compose.yaml"
# Where the recipe expects the checkout on a server; the tests point it at this checkout instead.
INSTALL_DIR = "/srv/customer-interface"

pytestmark = pytest.mark.subprocess


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False, **kwargs)  # noqa: S603


# nginx ------------------------------------------------------------------------------------------------------


def _nginx() -> str:
    nginx = shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )
    if nginx is None:
        pytest.skip("nginx is not installed: `nginx -t` on deploy/nginx/customer-interface.conf is not run")
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", _run([nginx, "-v"]).stderr)
    if found is None or tuple(map(int, found.groups())) < (1, 19, 5):
        pytest.skip(f"{nginx} is older than 1.19.5, which has no -e (error log) option this check needs")
    return nginx


def nginx_conf(site_text: str, tmp_path: Path) -> Path:
    """A minimal nginx.conf including the site (pointed at this checkout), every path nginx writes in tmp_path."""
    assert INSTALL_DIR in site_text  # the static alias, pointed at this checkout below
    site = tmp_path / "customer-interface.conf"
    site.write_text(site_text.replace(INSTALL_DIR, str(ROOT)))
    # As root nginx would switch to `nobody`; run as the current user (the directive is only allowed for root).
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {tmp_path / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\npid {tmp_path / 'nginx.pid'};\nerror_log {tmp_path / 'error.log'};\n"
        f"events {{}}\nhttp {{\n    access_log {tmp_path / 'access.log'};\n{temp}\n    include {site};\n}}\n"
    )
    return conf


def nginx_test(site_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`nginx -t` on the site."""
    conf = nginx_conf(site_text, tmp_path)
    # -e: the error log before the configuration is read (the compiled-in one may not be writable).
    return _run([_nginx(), "-t", "-p", str(tmp_path), "-c", str(conf), "-e", str(tmp_path / "error.log")])


def _nginx_problems(result: subprocess.CompletedProcess) -> list[str]:
    lines = (result.stdout + result.stderr).splitlines()
    problems = [line for line in lines if "[warn]" in line or "[emerg]" in line or "[alert]" in line]
    if result.returncode != 0 or not any("test is successful" in line for line in lines):
        problems.append(f"nginx -t exited {result.returncode}")
    return problems


def test_nginx_accepts_the_site(tmp_path):
    result = nginx_test(SITE.read_text(), tmp_path)
    assert _nginx_problems(result) == [], result.stdout + result.stderr


def test_nginx_check_fails_on_a_broken_site(tmp_path):
    broken = SITE.read_text().replace("proxy_request_buffering off;", "proxy_request_buffering sometimes;")
    assert broken != SITE.read_text()
    assert _nginx_problems(nginx_test(broken, tmp_path))


# systemd ----------------------------------------------------------------------------------------------------


def _systemd_analyze() -> str:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed: the units in deploy/systemd are not verified")
    return tool


def verify_units(units: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    """`systemd-analyze verify` on copies of the units, pointed at this checkout.

    verify refuses a unit whose ExecStart binary does not exist, so /srv/customer-interface becomes this checkout
    (its .venv/bin/gunicorn and .venv/bin/flask). Nothing else is changed: User=customer-interface stays, since
    verify does not look users up (systemd 252), nor does it read EnvironmentFile= or need ReadWritePaths= to exist;
    those are checked when the unit starts, which no test here can do.
    """
    venv_bin = ROOT / ".venv" / "bin"
    if not (venv_bin / "gunicorn").exists() or not (venv_bin / "flask").exists():
        pytest.skip(f"{venv_bin} has no gunicorn or flask (run `make install`): the units' ExecStart cannot be found")
    for name, text in units.items():
        assert INSTALL_DIR in text
        (tmp_path / name).write_text(text.replace(INSTALL_DIR, str(ROOT)))
    argv = [_systemd_analyze(), "verify", "--man=no", *(str(tmp_path / name) for name in units)]
    return _run(argv, env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": ""})


def _verify_problems(result: subprocess.CompletedProcess) -> str:
    # A setting verify cannot parse is only a warning ("..., ignoring") with exit status 0: any output counts.
    output = (result.stdout + result.stderr).strip()
    return output or ("" if result.returncode == 0 else f"exit status {result.returncode}")


def test_systemd_units_verify(tmp_path):
    assert [unit.name for unit in UNITS] == [
        "customer-interface-migrate.service",
        "customer-interface-web.service",
        "customer-interface-worker.service",
    ]
    result = verify_units({unit.name: unit.read_text() for unit in UNITS}, tmp_path)
    assert _verify_problems(result) == ""


@pytest.mark.parametrize(
    ("setting", "broken"),
    [("KillMode=mixed", "KillMode=gently"), ("ExecStart=/srv/customer-interface/.venv/bin/", "ExecStart=/nowhere/")],
)
def test_systemd_check_fails_on_a_broken_unit(tmp_path, setting, broken):
    units = {unit.name: unit.read_text() for unit in UNITS}
    web = "customer-interface-web.service"
    units[web] = units[web].replace(setting, broken)
    assert broken in units[web]
    assert _verify_problems(verify_units(units, tmp_path)) != ""


def test_the_web_unit_runs_after_the_migrations():
    web = (DEPLOY / "systemd" / "customer-interface-web.service").read_text().splitlines()
    assert "Requires=customer-interface-migrate.service" in web
    assert "After=customer-interface-migrate.service" in web


# docker compose ---------------------------------------------------------------------------------------------


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if docker is not None and _run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    if standalone is not None and _run([standalone, "version", "--short"]).stdout.strip().startswith("2"):
        return [standalone]
    pytest.skip("neither the docker compose plugin nor docker-compose v2 is installed: compose.yaml is not checked")


def compose_config(compose_file: Path) -> subprocess.CompletedProcess:
    # `config` parses, interpolates and validates the file against the compose schema; it needs no engine.
    return _run([*_compose(), "-f", str(compose_file), "config", "--quiet"], cwd=ROOT)


def test_compose_file_is_valid():
    result = compose_config(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_check_fails_on_a_broken_file(tmp_path):
    # A copy of deploy/ (the env files are next to compose.yaml), with a setting of the wrong type.
    shutil.copytree(DEPLOY, tmp_path / "deploy")
    compose = tmp_path / "deploy" / "compose.yaml"
    text = compose.read_text()
    assert compose_config(compose).returncode == 0  # the copy alone is fine
    compose.write_text(text.replace("replicas: 2", "replicas: two"))
    assert compose_config(compose).returncode != 0


def test_compose_points_the_sites_upstream_at_the_web_service():
    # compose.yaml's nginx rewrites the site's one upstream line with sed: a changed line would go unnoticed
    # (nginx would proxy to its own loopback), so the two are kept in step here.
    assert SITE.read_text().count("server 127.0.0.1:8000;") == 1
    assert r"sed 's/server 127\.0\.0\.1:8000;/server web:8000;/'" in COMPOSE.read_text()
