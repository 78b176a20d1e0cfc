"""A Celery worker keeps its database connection between tasks, as gunicorn does between requests.

Celery's Django fix-up closes every connection around every task unless CELERY_DB_REUSE_MAX is
set: each task then paid for a new PostgreSQL backend (the P3 webhook bench lost about a core to
it). These tests drive the fix-up and the task signals exactly as a prefork worker does (the
worker connects the same handlers), around a real task, in autocommit as a worker runs.
"""

from __future__ import annotations

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import OperationalError, connection

from creatornext.celery import app
from creatornext.payments.tasks import webhook_events_retry_due

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def run_as_a_worker_does(fixup: DjangoWorkerFixup) -> None:
    task = webhook_events_retry_due
    task.push_request(is_eager=False)
    try:
        fixup.on_task_prerun(sender=task)
        task_prerun.send(sender=task, task_id="t", task=task, args=(), kwargs={})
        task.run()
        fixup.on_task_postrun(sender=task)
        task_postrun.send(sender=task, task_id="t", task=task, args=(), kwargs={}, retval=0, state="SUCCESS")
    finally:
        task.pop_request()


@pytest.fixture
def conn_max_age(settings):
    before = connection.settings_dict["CONN_MAX_AGE"]
    connection.settings_dict["CONN_MAX_AGE"] = 60  # production's default (settings.py)
    connection.close()  # reconnect under that setting
    yield
    connection.settings_dict["CONN_MAX_AGE"] = before
    connection.close()


def test_tasks_run_on_one_connection(conn_max_age):
    fixup = DjangoWorkerFixup(app)
    first = backend_pid()
    for _ in range(5):
        run_as_a_worker_does(fixup)
        assert backend_pid() == first


def test_a_connection_broken_by_an_error_is_replaced_before_the_next_task(conn_max_age):
    fixup = DjangoWorkerFixup(app)
    first = backend_pid()
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # as a server restart would
    run_as_a_worker_does(fixup)
    assert backend_pid() != first
