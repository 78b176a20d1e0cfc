from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    label = "marketplace"
    verbose_name = "Creator Marketplace"

    def ready(self) -> None:
        from creatornext.accounts.signals import account_deleted
        from marketplace import config, escrow, services  # noqa: F401  staff-editable settings, payment handlers

        escrow.register()
        account_deleted.connect(services.forget_deleted_account, dispatch_uid="marketplace.forget_deleted_account")
