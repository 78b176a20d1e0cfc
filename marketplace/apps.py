from django.apps import AppConfig


class MarketplaceConfig(AppConfig):
    name = "marketplace"
    label = "marketplace"
    verbose_name = "Creator Marketplace"

    def ready(self) -> None:
        from marketplace import config, escrow  # noqa: F401  staff-editable settings, payment handlers

        escrow.register()
