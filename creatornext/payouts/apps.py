from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "creatornext.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self) -> None:
        from creatornext.payouts import config, handlers  # noqa: F401  settings and event handlers

        handlers.register()
