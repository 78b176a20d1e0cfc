from django.apps import AppConfig


class SiteConfig(AppConfig):
    """Pages composed from several apps (landing, public creator page, dashboard)."""

    name = "creatornext.site"
    label = "site_pages"
