"""daphne listens with twisted's default accept backlog of 50 connections (its -b/-p endpoint strings carry
none). A reconnect storm arrives faster than that: whenever the reactor is busy for 50 / (connects per second)
(200 ms at 250/s: one garbage collection, one large group commit), the kernel's accept queue is full and it
drops further handshakes (TcpExtListenOverflows), and each dropped charger retries its TCP connect after 1,
3, 7, 15 s: connect p99s of 5-28 s and, past daphne's and autobahn's 5 s handshake limits, failed handshakes,
with the server idle half the time (docs/benchmarks.md, 2026-12-01 night).

So every tcp: and unix: endpoint daphne builds gets `backlog=settings.OCPP_LISTEN_BACKLOG` unless it names
one (the kernel caps it at net.core.somaxconn, 4096 on current Linux). A socket handed over with --fd keeps
the backlog its creator chose. Installed once per process from stations/routing.py (the application is
imported before daphne's Server.run, which is wrapped here)."""

INSTALLED = False


def with_backlog(description: str, backlog: int) -> str:
    """A twisted endpoint description with a backlog, unless it has one or is not a listening socket we made."""
    kind = description.split(":", 1)[0]
    if kind not in ("tcp", "tcp6", "unix") or "backlog=" in description:
        return description
    return f"{description}:backlog={backlog}"


def install(backlog: int) -> bool:
    global INSTALLED
    if INSTALLED:
        return True
    try:
        from daphne.server import Server
    except ImportError:
        return False
    original_run = Server.run

    def run(self):
        self.endpoints = [with_backlog(str(e), backlog) for e in self.endpoints]
        return original_run(self)

    Server.run = run
    INSTALLED = True
    return True
