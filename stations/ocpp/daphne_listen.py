"""daphne listens with twisted's default accept backlog of 50 connections (its -b/-p endpoint strings carry
none). A reconnect storm arrives faster than that: whenever the reactor is busy for 50 / (connects per second)
(200 ms at 250/s: one garbage collection, one large group commit), the kernel's accept queue is full and it
drops further handshakes (TcpExtListenOverflows), and each dropped charger retries its TCP connect after 1,
3, 7, 15 s: connect p99 15.3 s against 6.0 s with a backlog of 4096, 2,000 known stations at 250/s
(docs/benchmarks.md, 2026-12-01 night). But an overloaded process then accepts more handshakes than it can
finish within daphne's and autobahn's 5 s limits (counted from the accept), and most of them expire after
using CPU: 215 of 5,000 new stations at 200/s connected with 4096, 4,181 with 50. A larger backlog is safe
only with admission control at accept (stop reading the listening socket while too many handshakes are in
progress), not built yet; so the default stays twisted's 50 and the setting is there to measure.

Every tcp: and unix: endpoint daphne builds gets `backlog=settings.OCPP_LISTEN_BACKLOG` unless it names
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
