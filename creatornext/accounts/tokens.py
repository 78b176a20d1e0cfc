"""One-time email-verification tokens (Django's password-reset token machinery, own salt).

A token becomes invalid once the address is verified, because the verification time is part of
the hash; it also expires after PASSWORD_RESET_TIMEOUT (3 days by default).
"""

from django.contrib.auth.tokens import PasswordResetTokenGenerator


class EmailVerificationTokenGenerator(PasswordResetTokenGenerator):
    key_salt = "creatornext.accounts.tokens.EmailVerificationTokenGenerator"

    def _make_hash_value(self, user, timestamp):
        return f"{user.pk}{user.email}{user.email_verified_at}{timestamp}"


email_verification_token = EmailVerificationTokenGenerator()
