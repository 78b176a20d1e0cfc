from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creatornext.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        # Imported for their settings: the second approval's threshold, the abuse limits.
        from django.core.signals import request_finished, request_started

        from creatornext.core import approvals, config, throttling  # noqa: F401

        # One value per setting per request (config.py).
        request_started.connect(config.request_started, dispatch_uid="config.request_started")
        request_finished.connect(config.request_finished, dispatch_uid="config.request_finished")
