"""Debian's haproxy in front of daphne processes a test started, with the deployed configuration
(deploy/haproxy.cfg rendered by eflux.lib.haproxy) on its own free port and runtime socket."""

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from eflux.lib.haproxy import config_render, runtime_command, server_states
from tests.waiting import wait_for


def haproxy_binary() -> str:
    """The haproxy executable; skips the test when it is missing, unless CI=true (scripts/test.sh installs
    it with scripts/install-haproxy.sh, so on CI a missing haproxy is a failure)."""
    found = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.access(p, os.X_OK)), None
    )
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            "haproxy is not installed: scripts/install-haproxy.sh (run by scripts/test.sh) installs it"
        )
    pytest.skip("haproxy is not installed (scripts/install-haproxy.sh installs Debian's package)")


class Haproxy:
    def __init__(self, tmp_path: Path, servers: list[str], name: str = "haproxy", check_interval="1s"):
        binary = haproxy_binary()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.stats_socket = str(tmp_path / f"{name}.sock")
        self.config = tmp_path / f"{name}.cfg"
        self.config.write_text(
            config_render(
                listen=f"127.0.0.1:{self.port}",
                servers=servers,
                health_host="localhost",  # in the test servers' DJANGO_ALLOWED_HOSTS
                stats_socket=self.stats_socket,
                maxconn=4096,
                check_interval=check_interval,
            )
        )
        self.log = tmp_path / f"{name}.log"
        # -db: foreground, no daemon; the process is ours and ended by its pid.
        self.proc = subprocess.Popen(
            [binary, "-db", "-f", str(self.config)], stdout=self.log.open("wb"), stderr=subprocess.STDOUT
        )
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        self.http_url = f"http://127.0.0.1:{self.port}"
        try:
            wait_for(self._ready, timeout=30, interval=0.1, message=lambda: f"haproxy:\n{self.output()}")
        except BaseException:
            self.stop()
            raise

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"haproxy exited:\n{self.output()}")
        return os.path.exists(self.stats_socket)

    def states(self, backend: str = "ocpp") -> dict[str, str]:
        return server_states(self.stats_socket, backend)

    def command(self, command: str) -> str:
        return runtime_command(self.stats_socket, command)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # hard stop, closes every tunnel now
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
