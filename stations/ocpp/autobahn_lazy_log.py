"""autobahn (under daphne) pretty-prints its whole protocol configuration and the transport's details for a
debug log line on every new connection, and builds that text even when debug logging is off: the arguments
are evaluated before the logger looks at its level (autobahn/websocket/protocol.py, `_connectionMade` and
`startHandshake`, 26.x). That was ~3 % of the daphne process's CPU while new stations connected at 200/s
(docs/benchmarks.md). Here the module's `pformat` returns an object that formats itself only when a log line
is really written; `Timings.__str__`, the one caller that needs the text at once, keeps the real one.

Installed once per process from stations/routing.py, like stations/ocpp/daphne_denial.py."""

import pprint

INSTALLED = False


class _Lazy:
    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __str__(self) -> str:
        return pprint.pformat(self.obj)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    __repr__ = __str__


def install() -> bool:
    global INSTALLED
    if INSTALLED:
        return True
    try:
        from autobahn.websocket import protocol
    except ImportError:
        return False
    if getattr(protocol, "pformat", None) is not pprint.pformat:
        return False  # not the autobahn this was written for: leave it alone
    protocol.pformat = _Lazy  # type: ignore[assignment]
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)  # type: ignore[method-assign]
    INSTALLED = True
    return True
