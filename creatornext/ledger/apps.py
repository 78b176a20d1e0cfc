from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "creatornext.ledger"
    label = "ledger"
