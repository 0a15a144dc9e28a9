"""Renders deploy/haproxy.cfg for a set of daphne processes (docs/deployment.md). Also what the tests and
bench/scale_out.py use, so the configuration they exercise is the one deployed.

    python -m eflux.lib.haproxy --listen 0.0.0.0:80 --server 127.0.0.1:8001 --server 127.0.0.1:8002 \\
        --health-host csms.example.com > /etc/haproxy/haproxy.cfg
"""

import argparse
import csv
import socket
import sys
from pathlib import Path
from string import Template

TEMPLATE = Path(__file__).resolve().parent.parent.parent / "deploy" / "haproxy.cfg"


def config_render(
    *,
    listen: str,
    servers: list[str],
    health_host: str,
    stats_socket: str = "/run/haproxy/admin.sock",
    maxconn: int = 50_000,
    check_interval: str = "2s",
) -> str:
    """`servers`: "host:port" of each daphne process, named d1, d2, ... in that order."""
    if not servers:
        raise ValueError("at least one server")
    names = [f"d{i}" for i in range(1, len(servers) + 1)]
    return Template(TEMPLATE.read_text()).substitute(
        listen=listen,
        health_host=health_host,
        stats_socket=stats_socket,
        maxconn=maxconn,
        check_interval=check_interval,
        ocpp_servers="\n".join(
            f"    server {n} {address}" for n, address in zip(names, servers, strict=True)
        ),
        # The portal's servers follow the ocpp backend's health checks instead of checking again.
        portal_servers="\n".join(
            f"    server {n} {address} track ocpp/{n}" for n, address in zip(names, servers, strict=True)
        ),
    )


def runtime_command(stats_socket: str, command: str) -> str:
    """One command to haproxy's runtime API (the stats socket), e.g. "show stat", "disable server portal/d1"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(stats_socket)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode()


def server_states(stats_socket: str, backend: str = "ocpp") -> dict[str, str]:
    """Each server of `backend` and its state as haproxy's health checks see it ("UP", "DOWN", "UP 1/2",
    "MAINT", ...), from the runtime API ("show stat", CSV)."""
    lines = runtime_command(stats_socket, "show stat").lstrip("# ").splitlines()
    return {
        row["svname"]: row["status"]
        for row in csv.DictReader(line for line in lines if line)
        if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Render deploy/haproxy.cfg for these daphne processes.")
    p.add_argument("--listen", default="0.0.0.0:80", help="haproxy's address (default %(default)s)")
    p.add_argument("--server", action="append", required=True, help="a daphne's host:port (repeat)")
    p.add_argument(
        "--health-host",
        required=True,
        help="Host header of the health check: one of DJANGO_ALLOWED_HOSTS",
    )
    p.add_argument("--stats-socket", default="/run/haproxy/admin.sock")
    p.add_argument("--maxconn", type=int, default=50_000)
    p.add_argument("--check-interval", default="2s")
    args = p.parse_args(argv)
    sys.stdout.write(
        config_render(
            listen=args.listen,
            servers=args.server,
            health_host=args.health_host,
            stats_socket=args.stats_socket,
            maxconn=args.maxconn,
            check_interval=args.check_interval,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
