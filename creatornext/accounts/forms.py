"""Page forms. They validate shape; the services decide (and raise field errors) as for the API."""

from __future__ import annotations

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm

from creatornext.accounts import services
from creatornext.core import throttling
from creatornext.core.emails import email_queue


class SignupForm(forms.Form):
    username = forms.RegexField(regex=r"^[\w.@+-]+\Z", max_length=150,
                                help_text="Letters, digits and @ . + - _ only.")
    email = forms.EmailField(max_length=254)
    date_of_birth = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}),
                                    help_text="You must be at least 13.")
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               max_length=128)


class LoginForm(AuthenticationForm):
    """Django's log-in form, under the same abuse limits as the API's token log-in."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "email_not_verified": "Verify your email address first: open the link we sent you.",
    }
    retry_after: int | None = None  # set when refused by a limit; the view answers 429

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        wait = throttling.hit("login", throttling.client_ip(self.request)) if self.request else None
        if wait is not None:
            self.retry_after = wait
            raise forms.ValidationError(throttling.rate_limited_message(wait), code="rate_limited")
        wait = throttling.lockout_wait(username) if username else None
        if wait is not None:
            self.retry_after = wait
            raise forms.ValidationError(throttling.lockout_message(wait), code="locked")
        try:
            return super().clean()
        except forms.ValidationError as exc:
            if exc.code == "invalid_login":
                throttling.lockout_failure(username)
            raise

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.email_verified:
            raise forms.ValidationError(self.error_messages["email_not_verified"],
                                        code="email_not_verified")


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, sending through our email queue (stored, retried, after commit)."""

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email,
                  html_email_template_name=None):
        link = f"{context['protocol']}://{context['domain']}/accounts/reset/{context['uid']}/{context['token']}/"
        email_queue(to=[to_email], template="password_reset",
                    context={"username": context["user"].get_username(), "link": link})

    def get_users(self, email):
        return (u for u in super().get_users(email) if u.deleted_at is None)


class DeleteAccountForm(forms.Form):
    password = forms.CharField(widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
                               help_text="Your current password, to confirm.")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError("The password is wrong.")
        return password


__all__ = ["DeleteAccountForm", "LoginForm", "QueuedPasswordResetForm", "SignupForm", "services"]
