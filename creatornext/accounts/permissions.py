"""Staff acts only with two-factor authentication (PRODUCT §7).

The admin site asks for a device's code at log-in (django-otp). The API's staff endpoints are
reached two other ways, and each is held to the same bar:
- a token: ``POST /auth/token/`` gives a staff member one only with a current code from one of
  their devices (``services.token_obtain``);
- the browser session (the site's log-in page asks for no code): the session must have been
  verified with a device, as the admin's is (``request.user.is_verified()``, django-otp's
  middleware).
"""

from __future__ import annotations

from typing import Any

from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request


def staff_with_two_factor(request: Request) -> bool:
    """The caller is staff and, on a session, one verified with a device."""
    user = request.user
    if not (user and user.is_authenticated and user.is_staff):
        return False
    if isinstance(request.successful_authenticator, SessionAuthentication):
        return bool(getattr(user, "is_verified", lambda: False)())
    return True  # a token, which a staff member gets only with a code (token_obtain)


class IsStaffWithTwoFactor(BasePermission):
    message = "Only staff, signed in with two-factor authentication, can do this."

    def has_permission(self, request: Request, view: Any) -> bool:
        return staff_with_two_factor(request)
