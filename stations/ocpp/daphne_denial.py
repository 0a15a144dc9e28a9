"""The ASGI "WebSocket Denial Response" extension for daphne, which lacks it (django/daphne#486; daphne
answers every refused handshake with 403). OCPP needs 401 for a wrong or missing password (security
whitepaper A00.FR.202, RFC 7235) and 404 for an identity it does not accept (OCPP-J 1.6 §3.2).

An application sends `websocket.http.response.start` {status, headers} and `websocket.http.response.body`
instead of `websocket.accept`; we turn that into autobahn's handshake failure with that status and headers
(the body is dropped: autobahn's error response carries none). Installed once per process from
stations/routing.py; a daphne that implements the extension itself is left alone."""

from http import HTTPStatus

INSTALLED = False


def install() -> bool:
    global INSTALLED
    if INSTALLED:
        return True
    try:
        from autobahn.websocket.types import ConnectionDeny
        from daphne.ws_protocol import WebSocketProtocol
    except ImportError:
        return False
    original_reply = WebSocketProtocol.handle_reply
    original_fail = WebSocketProtocol.failHandshake

    def handle_reply(self, message):
        kind = message.get("type")
        if kind == "websocket.http.response.start" and hasattr(self, "handshake_deferred"):
            self._denial = (int(message["status"]), list(message.get("headers") or []))
            return None
        if kind == "websocket.http.response.body" and getattr(self, "_denial", None):
            if message.get("more_body"):
                return None
            status, _ = self._denial
            deferred = self.handshake_deferred
            del self.handshake_deferred
            self.server.protocol_disconnected(self)
            deferred.errback(ConnectionDeny(code=status, reason=HTTPStatus(status).phrase))
            return None
        return original_reply(self, message)

    def fail_handshake(self, reason, code=400, responseHeaders=None):  # noqa: N803 (autobahn's name)
        denial = getattr(self, "_denial", None)
        if denial and responseHeaders is None and denial[0] == code:
            responseHeaders = [
                (
                    k.decode("latin-1") if isinstance(k, bytes) else k,
                    v.decode("latin-1") if isinstance(v, bytes) else v,
                )
                for k, v in denial[1]
            ]
        return original_fail(self, reason, code, responseHeaders)

    WebSocketProtocol.handle_reply = handle_reply
    WebSocketProtocol.failHandshake = fail_handshake
    INSTALLED = True
    return True
