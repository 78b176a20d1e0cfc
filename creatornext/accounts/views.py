"""Account pages: sign-up, email verification, log-in/out, password reset, deletion."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from creatornext.accounts import services
from creatornext.accounts.forms import (
    DeleteAccountForm,
    LoginForm,
    QueuedPasswordResetForm,
    SignupForm,
)
from creatornext.accounts.models import User
from creatornext.core import throttling


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    wait = throttling.hit("register", throttling.client_ip(request)) if request.method == "POST" else None
    if wait is not None:  # the API's sign-up limit, per address
        form = SignupForm(request.POST)
        form.is_valid()  # field errors too, so the page shows everything at once; nothing is saved
        form.add_error(None, throttling.rate_limited_message(wait))
        response = render(request, "accounts/signup.html", {"form": form}, status=429)
        response["Retry-After"] = str(wait)
        return response
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(**form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            return render(request, "accounts/signup_done.html", {"email": user.email})
    return render(request, "accounts/signup.html", {"form": form})


def verify_email(request: HttpRequest, uidb64: str, token: str) -> HttpResponse:
    user = services.email_verify(uidb64=uidb64, token=token)
    if user is None:
        return render(request, "accounts/verify_failed.html", status=400)
    messages.success(request, "Your email address is verified. You can log in now.")
    return redirect("login")


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.retry_after is not None:  # refused by the rate limit or the lockout, not the password
            response.status_code = 429
            response["Retry-After"] = str(form.retry_after)
        return response


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "accounts/password_reset.html"
    success_url = "/accounts/password-reset/sent/"


@login_required
@require_http_methods(["GET", "POST"])
def delete_account(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)  # login_required
    form = DeleteAccountForm(request.POST or None, user=user)
    if request.method == "POST" and form.is_valid():
        services.account_delete(user=user, actor=user)
        logout(request)
        messages.success(request, "Your account is deleted. Your personal data has been removed.")
        return redirect("landing")
    return render(request, "accounts/delete.html", {"form": form})
