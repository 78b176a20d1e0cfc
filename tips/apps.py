from django.apps import AppConfig


class TipsConfig(AppConfig):
    name = "tips"
    label = "tips"

    def ready(self) -> None:
        from tips import config, handlers  # noqa: F401  settings and payment handlers

        handlers.register()
