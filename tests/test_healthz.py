"""/healthz, the load balancer's health check (deploy/haproxy.cfg). A daphne process whose database is really
unreachable is taken out of haproxy in tests/faults/test_load_balancer.py; here the answers themselves."""

import pytest
from django.db import OperationalError

from eflux import views
from stations import lifeline

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_ok_without_a_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_it_is_unhealthy_when_the_database_does_not_answer(client, monkeypatch):
    def unreachable():
        raise OperationalError("connection refused")

    monkeypatch.setattr(views, "_database_answers", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503 and b"database unreachable" in response.content


def test_it_is_unhealthy_while_the_process_shuts_down(client, monkeypatch):
    monkeypatch.setattr(lifeline, "_stopping", True)
    response = client.get("/healthz")
    assert response.status_code == 503 and response.content == b"stopping\n"
