"""The Celery app. Configuration comes from Django settings (CELERY_* names)."""

from __future__ import annotations

import os

from celery import Celery

import creatornext.broker  # noqa: F401  registers the embedded "cnfs://" transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "creatornext.settings")

app = Celery("creatornext")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
