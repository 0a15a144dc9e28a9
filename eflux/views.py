"""Views of the process itself, not of the portal."""

from django.db import DatabaseError, connection
from django.http import HttpResponse
from django.views.decorators.cache import never_cache

from eflux.asyncdb import db
from stations import lifeline


def _database_answers() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


@never_cache
async def healthz(request):
    """For a load balancer's health check (deploy/haproxy.cfg): 200 while this process can serve a station,
    503 when it cannot, so new connections go to another process. Not a portal page: no login, no session.

    Checks what a station's every message needs and nothing more: a database round trip on the same ORM
    thread pool the OCPP handlers use (a process whose pool is stuck or whose database is unreachable fails
    it). Redis is not checked: stations are served without it (docs/reliability.md), and a Redis outage
    would otherwise take every process out of the balancer at once. A process shutting down (SIGTERM) says
    so, so that the balancer stops sending it stations before it closes their sockets."""
    if lifeline.stopping():
        return HttpResponse("stopping\n", status=503, content_type="text/plain")
    try:
        await db(_database_answers)()
    except DatabaseError as e:
        return HttpResponse(
            f"database unreachable: {e.__class__.__name__}\n", status=503, content_type="text/plain"
        )
    return HttpResponse("ok\n", content_type="text/plain")
