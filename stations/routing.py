from django.conf import settings
from django.urls import re_path

from .consumers import OcppConsumer
from .ocpp import autobahn_lazy_log, daphne_denial, daphne_listen

# 401/404 on refused handshakes instead of daphne's fixed 403 (see stations/ocpp/daphne_denial.py).
daphne_denial.install()
# No debug text built per connection while debug logging is off (see stations/ocpp/autobahn_lazy_log.py).
autobahn_lazy_log.install()
# An accept queue that holds a reconnect storm's burst (see stations/ocpp/daphne_listen.py).
daphne_listen.install(settings.OCPP_LISTEN_BACKLOG)

# OCPP-J 1.6 §3.1.1: "ws://HOST/ocpp/<chargeBoxIdentity>". Any last segment reaches the consumer, which
# refuses invalid identities with 404 itself (a URL pattern miss would only close the socket).
ocpp_websocket_urlpatterns: list = [
    re_path(r"^ocpp/(?P<identity>.*)$", OcppConsumer.as_asgi()),
]

# Browser websockets (live portal updates), behind the origin validator and session auth in eflux/asgi.py.
browser_websocket_urlpatterns: list = []
