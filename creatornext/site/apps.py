from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class SiteConfig(AppConfig):
    """Pages composed from several apps (landing, public creator page, dashboard)."""

    default = True  # this module also holds StaffAdminConfig, used by name in INSTALLED_APPS
    name = "creatornext.site"
    label = "site_pages"


class StaffAdminConfig(admin_apps.AdminConfig):
    """Django's admin, but staff must also verify a TOTP device (PRODUCT.md §7: staff use 2FA).

    django-otp's admin site refuses any session not verified with a device, and its login form asks
    for the current code next to the password.
    """

    default = False  # AdminConfig says True; here SiteConfig is this module's default
    default_site = "creatornext.site.admin_site.StaffAdminSite"
