import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.waiting import wait_for

pytest_plugins = ["tests.personas", "tests.browser"]

ROOT = Path(__file__).resolve().parent.parent


def services_required() -> bool:
    # CI=true (or EFLUX_REQUIRE_SERVICES=1): suites that need PostgreSQL/Redis fail instead of skipping.
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("EFLUX_REQUIRE_SERVICES") == "1"


def pytest_collection_modifyitems(config, items):
    has_services = bool(os.environ.get("DATABASE_URL")) and bool(os.environ.get("REDIS_URL"))
    for item in items:
        if "services" in item.keywords and not has_services:
            if services_required():
                # Fail loudly: CI asked for these suites and the environment does not provide them.
                item.add_marker(pytest.mark.usefixtures("_require_services"))
            else:
                item.add_marker(
                    pytest.mark.skip(reason="needs DATABASE_URL and REDIS_URL (make test sets them)")
                )


@pytest.fixture
def _require_services():
    pytest.fail("this suite needs PostgreSQL and Redis: set DATABASE_URL and REDIS_URL (make test does)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(**extra) -> dict:
    """Environment for a server/worker process that shares the test database of this test run."""
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "eflux.settings"
    # Servers run as in production, with persistent database connections (the test process itself uses 0).
    env["DB_CONN_MAX_AGE"] = os.environ.get("SERVER_DB_CONN_MAX_AGE", "60")
    db = settings.DATABASES["default"]
    name = connection.settings_dict["NAME"]
    if db["ENGINE"].endswith("sqlite3"):
        env["SQLITE_PATH"] = str(name)
    else:
        env["DATABASE_URL"] = (
            f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{name}"
        )
    env.update({k: str(v) for k, v in extra.items()})
    return env


class ServerProcess:
    def __init__(self, port: int, proc: subprocess.Popen, log: Path):
        self.port, self.proc, self.log = port, proc, log
        self.http_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def start_daphne(
    tmp_path: Path, name: str = "daphne", daphne_args: tuple[str, ...] = (), **env_extra
) -> ServerProcess:
    port = free_port()
    log = tmp_path / f"{name}-{port}.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            *daphne_args,
            "eflux.asgi:application",
        ],
        cwd=ROOT,
        env=server_env(**env_extra),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )

    def listening() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"daphne exited early:\n{log.read_text(errors='replace')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            return False

    try:
        wait_for(
            listening,
            timeout=60,
            interval=0.1,
            message=lambda: f"daphne listening on {port}:\n{log.read_text(errors='replace')}",
        )
    except AssertionError:
        proc.kill()
        raise
    return ServerProcess(port, proc, log)


@pytest.fixture
def daphne_server(transactional_db, tmp_path):
    """A real daphne process on a free port, sharing this test's database."""
    server = start_daphne(tmp_path)
    yield server
    server.stop()
