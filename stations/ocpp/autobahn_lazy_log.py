"""autobahn (under daphne) pretty-prints its whole protocol configuration and the transport's details for a
debug log line on every new connection, and builds that text even when debug logging is off: the arguments
are evaluated before the logger looks at its level (autobahn/websocket/protocol.py, `_connectionMade` and
`startHandshake`, 26.x). That was ~3 % of the daphne process's CPU while new stations connected at 200/s
(docs/benchmarks.md). Here the module's `pformat` returns an object that formats itself only when a log line
is really written; `Timings.__str__`, the one caller that needs the text at once, keeps the real one.

The same holds for its `hltype`/`hlval` (click-styled text of a method's name, the peer, a length) given to
debug lines of every sent and received frame and every handshake (`sendData`, `dataReceived`,
`_connectionMade`, `processHandshake`): ~3 % of the process's CPU in a reconnect storm (docs/benchmarks.md,
2026-12-01 night). Both modules that call them get versions that style the text only when it is written.

Installed once per process from stations/routing.py, like stations/ocpp/daphne_denial.py."""

import functools
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


class _LazyCall:
    """`fn(*args)`, computed only when formatted."""

    __slots__ = ("fn", "args")

    def __init__(self, fn, *args):
        self.fn = fn
        self.args = args

    def __str__(self) -> str:
        return str(self.fn(*self.args))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    __repr__ = __str__


def _lazy(fn):
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if kwargs:
            return fn(*args, **kwargs)
        return _LazyCall(fn, *args)

    return call


def install() -> bool:
    global INSTALLED
    if INSTALLED:
        return True
    try:
        from autobahn import util
        from autobahn.twisted import websocket as twisted_websocket
        from autobahn.websocket import protocol
    except ImportError:
        return False
    if getattr(protocol, "pformat", None) is not pprint.pformat:
        return False  # not the autobahn this was written for: leave it alone
    for module in (protocol, twisted_websocket):
        for name in ("hltype", "hlval"):
            if getattr(module, name, None) is getattr(util, name):
                setattr(module, name, _lazy(getattr(util, name)))
    protocol.pformat = _Lazy  # type: ignore[assignment]
    protocol.Timings.__str__ = lambda self: pprint.pformat(self._timings)  # type: ignore[method-assign]
    INSTALLED = True
    return True
