# Filled in by the OCPP endpoint (stations/consumers.py). The identity is the last path segment:
# OCPP-J 1.6 §3.1.1 "ws://HOST/ocpp/<chargeBoxIdentity>".
ocpp_websocket_urlpatterns: list = []

# Browser websockets (live portal updates), behind the origin validator and session auth in eflux/asgi.py.
browser_websocket_urlpatterns: list = []
