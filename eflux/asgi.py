import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eflux.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from eflux.gc_tuning import gc_tune  # noqa: E402
from eflux.jobs import scheduler_start  # noqa: E402
from stations.routing import browser_websocket_urlpatterns, ocpp_websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Chargers send no Origin header, so the OCPP route sits outside the origin validator and
        # authenticates stations itself (HTTP Basic, security profile 1). Browser sockets stay inside it.
        "websocket": URLRouter(
            [
                *ocpp_websocket_urlpatterns,
                re_path(
                    r"",
                    AllowedHostsOriginValidator(
                        AuthMiddlewareStack(URLRouter(browser_websocket_urlpatterns))
                    ),
                ),
            ]
        ),
    }
)

# Embedded default (no broker, no Celery beat): the server process runs the periodic tasks (the job reaper).
scheduler_start()

# What is alive now lives as long as the process: no full collection walks it again (eflux/gc_tuning.py).
gc_tune(settings.GC_THRESHOLDS)
