from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creatornext.core"
    label = "core"
    verbose_name = "Platform"

    def ready(self) -> None:
        from creatornext.core import approvals  # noqa: F401  registers its setting
