"""Every Idempotency-Key rule of API.md, against the real decorator and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from creatornext.audit.models import AuditEvent
from creatornext.core.idempotency import idempotency_cleanup
from creatornext.core.models import IdempotencyRecord
from tests.support.world import api_client, make_user

pytestmark = pytest.mark.urls("tests.creatornext.core.idempotency_urls")
URL = "/api/v1/effect/"


def effects() -> int:
    return AuditEvent.objects.filter(action="test.effect").count()


@pytest.fixture
def alice(db):
    return make_user("alice")


def post(client, body, key="key-1", url=URL):
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return client.post(url, body, format="json", **headers)


def test_missing_key_is_400_and_writes_nothing(alice, nothing_changed):
    client = api_client(alice)
    with nothing_changed():
        response = post(client, {"note": "x"}, key=None)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "idempotency_key_required"


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_key_length_is_1_to_255(alice, nothing_changed, key):
    client = api_client(alice)
    with nothing_changed():
        response = post(client, {"note": "x"}, key=key)
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"Idempotency-Key": ["Must be 1–255 characters."]}
    assert post(client, {"note": "x"}, key="k" * 255).status_code == 201


def test_same_key_same_body_replays_status_and_body(alice):
    client = api_client(alice)
    first = post(client, {"note": "x", "n": [1, 2]})
    # Same JSON, keys in another order: canonical comparison
    second = client.post(URL, '{"n": [1, 2], "note": "x"}', content_type="application/json",
                         HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert effects() == 1


def test_same_key_different_body_is_409_and_writes_nothing(alice, nothing_changed):
    client = api_client(alice)
    post(client, {"note": "x"})
    with nothing_changed():
        response = post(client, {"note": "y"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_conflict"


def test_the_same_key_on_another_object_of_the_endpoint_is_409_not_a_replay(alice, nothing_changed):
    """A key used on /things/1/effect/ is not replayed for /things/2/effect/ (it would answer with
    thing 1's response and do nothing for thing 2): the object is part of the request."""
    client = api_client(alice)
    first = post(client, {}, url="/api/v1/things/1/effect/")
    assert first.status_code == 201 and first.json()["thing"] == 1
    with nothing_changed():
        other = post(client, {}, url="/api/v1/things/2/effect/")
    assert (other.status_code, other.json()["error"]["code"]) == (409, "idempotency_conflict")
    again = post(client, {}, url="/api/v1/things/1/effect/")
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert effects() == 1


@pytest.mark.parametrize("body", [{"refuse": True}, {"bad": True}])
def test_a_refusal_stores_nothing_and_the_key_can_be_retried(alice, nothing_changed, body):
    client = api_client(alice)
    with nothing_changed():
        refused = post(client, body)
    assert refused.status_code in (400, 409)
    # The same key now succeeds with a good body
    ok = post(client, {"note": "fixed"})
    assert ok.status_code == 201
    assert effects() == 1


def test_keys_are_scoped_to_the_caller_and_the_endpoint(alice):
    bob = make_user("bob")
    a, b = api_client(alice), api_client(bob)
    assert post(a, {"note": "x"}).status_code == 201
    assert "Idempotent-Replayed" not in post(b, {"note": "x"})  # same key, other user: new effect
    assert "Idempotent-Replayed" not in post(a, {"note": "x"}, url="/api/v1/other-effect/")
    assert effects() == 3
    assert IdempotencyRecord.objects.count() == 3


def test_records_are_kept_24_hours_then_cleaned_up(alice, settings):
    client = api_client(alice)
    post(client, {"note": "x"}, key="old")
    post(client, {"note": "x"}, key="new")
    assert settings.IDEMPOTENCY_KEY_TTL_HOURS >= 24
    IdempotencyRecord.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1))
    IdempotencyRecord.objects.filter(key="new").update(created_at=timezone.now() - timedelta(hours=24))
    assert idempotency_cleanup() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_beat_runs_the_cleanup_every_hour(alice, settings):
    from creatornext.celery import app as celery_app

    entry = settings.CELERY_BEAT_SCHEDULE["idempotency-cleanup"]
    assert entry["schedule"] == 3600.0
    post(api_client(alice), {"note": "x"}, key="old")
    IdempotencyRecord.objects.update(
        created_at=timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS, minutes=1))
    celery_app.loader.import_default_modules()  # what a worker imports at start
    assert celery_app.tasks[entry["task"]].apply().get() == 1  # the task beat sends, run here
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_requests_with_one_key_make_one_effect_and_identical_responses():
    user = make_user("carol")
    barrier = threading.Barrier(10)
    responses = []
    lock = threading.Lock()

    def worker():
        client = api_client(user)
        barrier.wait()
        try:
            r = post(client, {"note": "burst", "slow": True}, key="burst-key")
            with lock:
                responses.append((r.status_code, r.content))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(responses) == 10
    assert {status for status, _ in responses} == {201}
    assert len({body for _, body in responses}) == 1  # byte-identical
    assert effects() == 1
    assert IdempotencyRecord.objects.filter(key="burst-key").count() == 1
