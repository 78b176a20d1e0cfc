import pytest
from django.test import override_settings

from creatornext.core.models import Heartbeat


@pytest.mark.django_db
def test_healthz_reports_database_and_broker_and_sends_one_web_heartbeat(client):
    # Given no heartbeat yet; when /healthz is fetched twice within the interval
    first = client.get("/healthz")
    second = client.get("/healthz")

    # Then both are healthy and exactly one web heartbeat task ran (eager here)
    assert first.status_code == 200
    body = first.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["broker"] == "ok"
    assert second.status_code == 200
    assert Heartbeat.objects.get(source="web").count == 1


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_down(client, settings):
    from creatornext.celery import app

    old = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
            response = client.get("/healthz")
    finally:
        app.conf.broker_url = old
    assert response.status_code == 503
    assert response.json()["broker"].startswith("error")
    assert not Heartbeat.objects.exists()


def test_healthz_only_answers_get(client):
    assert client.post("/healthz").status_code == 405
