from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "creatornext.payments"
    label = "payments"
