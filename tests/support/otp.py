"""Staff two-factor in tests: a confirmed TOTP device per staff user, and real codes from its key.

``client.force_login`` skips the password; ``OtpClient.force_login`` likewise skips typing the code
for staff (it marks the session verified with the user's real device, as django_otp.login does), so
tests that exercise the admin need no per-test OTP plumbing. The 2FA gate itself is tested through the
real login form with a real code (tests/creatornext/site/test_staff_otp.py, tests/e2e).
"""

from __future__ import annotations

from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user) -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def current_code(device: TOTPDevice) -> str:
    """The six digits an authenticator app would show now for ``device``."""
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    return f"{code:0{device.digits}d}"


def verify_session(client: Client, user) -> None:
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = totp_device(user).persistent_id
    session.save()


class OtpClient(Client):
    def force_login(self, user, backend=None):
        super().force_login(user, backend)
        if user.is_staff:
            verify_session(self, user)
