from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "creatornext.ledger"
    label = "ledger"

    def ready(self) -> None:
        from creatornext.ledger import config  # noqa: F401  registers the ledger's settings
