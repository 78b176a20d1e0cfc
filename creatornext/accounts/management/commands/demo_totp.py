from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Print the demo staff user's current admin two-factor code (development only)."

    def handle(self, *args, **options):
        from django_otp.oath import totp
        from django_otp.plugins.otp_totp.models import TOTPDevice

        from creatornext.accounts.demo import DEMO_STAFF_TOTP_HEX

        if not settings.DEBUG:  # a shortcut around 2FA has no place outside development
            raise CommandError("demo_totp is for development only (DEBUG is off).")
        device = TOTPDevice.objects.filter(user__username="demo_staff", key=DEMO_STAFF_TOTP_HEX).first()
        if device is None:
            raise CommandError("No demo staff authenticator: run `python manage.py seed_demo` first.")
        code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
        self.stdout.write(f"{code:0{device.digits}d}")
