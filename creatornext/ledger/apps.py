from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "creatornext.ledger"
    label = "ledger"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from creatornext.ledger import config  # noqa: F401  registers the ledger's settings
        from creatornext.ledger.services import clear_account_cache

        # ``flush`` (tests, manage.py flush) empties the tables, then sends post_migrate.
        post_migrate.connect(clear_account_cache, dispatch_uid="ledger.clear_account_cache")
