from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creatornext.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        # Imported for their settings: the second approval's threshold, the abuse limits.
        from creatornext.core import approvals, throttling  # noqa: F401
