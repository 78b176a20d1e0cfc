from django.apps import AppConfig


class GiftsConfig(AppConfig):
    name = "gifts"
    label = "gifts"

    def ready(self) -> None:
        from gifts import config, handlers  # noqa: F401  settings and payment handlers

        handlers.register()
