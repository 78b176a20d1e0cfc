from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "creatornext.payments"
    label = "payments"

    def ready(self) -> None:
        from creatornext.payments import config  # noqa: F401  registers the settings
