"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

import creatornext.broker  # noqa: F401  registers the embedded "cnfs://" transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creatornext.settings")

app = Celery("creatornext")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _connections_as_around_a_request(sender: Task | None = None, **_: Any) -> None:
    """Around each task, what Django does around each request: close a connection that is older
    than CONN_MAX_AGE or was left unusable by an error, keep the others (settings.py,
    CELERY_DB_REUSE_MAX). Not for eager tasks: they run inside their caller's transaction."""
    if sender is not None and not getattr(sender.request, "is_eager", False):
        close_old_connections()
