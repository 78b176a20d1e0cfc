"""The admin site behind staff two-factor (PRODUCT.md §7): password plus a TOTP code."""

from __future__ import annotations

from django_otp import devices_for_user
from django_otp.admin import OTPAdminAuthenticationForm, OTPAdminSite


class StaffLoginForm(OTPAdminAuthenticationForm):
    """django-otp's admin login, but a staff member with exactly one device needs not pick it first.

    django-otp refuses to guess among several devices (a wrong guess throttles the others); with a
    single confirmed device there is nothing to guess, so the code is checked against that device.
    """

    def _chosen_device(self, user):
        device = super()._chosen_device(user)
        if device is None and user is not None:
            # for_verify: the row is locked, as django-otp does, so one code cannot be replayed in a race.
            devices = list(devices_for_user(user, confirmed=True, for_verify=True))
            if len(devices) == 1:
                return devices[0]
        return device


class StaffAdminSite(OTPAdminSite):
    login_form = StaffLoginForm
