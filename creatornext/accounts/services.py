"""Writes about people: sign-up, email verification, creator profiles, account deletion."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from creatornext.accounts.models import (
    HANDLE_VALIDATOR,
    Block,
    Brand,
    BrandMembership,
    CreatorProfile,
    User,
)
from creatornext.accounts.selectors import age_on
from creatornext.accounts.signals import account_deleted
from creatornext.accounts.tokens import email_verification_token
from creatornext.audit.services import audit_record
from creatornext.core import throttling
from creatornext.core.api import AgeRestricted
from creatornext.core.emails import email_queue
from creatornext.core.text import text_problem


class AuthError(Exception):
    """Log-in refused; ``code`` says why (``invalid_credentials``, ``email_not_verified``,
    ``locked``: too many failures, ``wait`` seconds left; for a staff token ``otp_required``,
    ``invalid_otp``)."""

    def __init__(self, code: str, message: str, wait: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.wait = wait


# --- sign-up and verification ------------------------------------------------------------------
def user_register(*, username: str, email: str, password: str,
                  date_of_birth: datetime.date) -> User:
    errors: dict[str, list[str]] = {}
    today = timezone.now().date()
    if date_of_birth > today:
        errors["date_of_birth"] = ["The date of birth is in the future."]
    elif age_on(date_of_birth, today) < settings.MIN_SIGNUP_AGE:
        errors["date_of_birth"] = [f"You must be at least {settings.MIN_SIGNUP_AGE} to sign up."]
    if User.objects.filter(username__iexact=username).exists():
        errors["username"] = ["This username is taken."]
    if User.objects.filter(email__iexact=email).exists():
        errors["email"] = ["An account with this email already exists."]
    try:
        validate_password(password, User(username=username, email=email))
    except ValidationError as exc:
        errors["password"] = list(exc.messages)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            user = User.objects.create_user(username=username, email=email, password=password,
                                            date_of_birth=date_of_birth)
        except IntegrityError as exc:  # a concurrent sign-up took the name or address
            raise ValidationError({"username": ["This username or email is taken."]}) from exc
        email_verification_send(user=user)
    return user


def email_verification_link(user: User) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return f"{settings.SITE_URL}/accounts/verify/{uid}/{email_verification_token.make_token(user)}/"


def email_verification_send(*, user: User) -> None:
    email_queue(to=[user.email], template="verify_email",
                context={"username": user.username, "link": email_verification_link(user)})


def email_verify(*, uidb64: str, token: str) -> User | None:
    """Mark the address verified if the link is valid; None for a bad or used link."""
    try:
        pk = int(force_str(urlsafe_base64_decode(uidb64)))
    except (TypeError, ValueError, OverflowError):
        return None
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).filter(pk=pk, deleted_at__isnull=True).first()
        if user is None or not email_verification_token.check_token(user, token):
            return None
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    return user


def login_check(*, username: str, password: str, request=None) -> User:
    # A locked account refuses even the right password: otherwise guessing could go on.
    wait = throttling.lockout_wait(username)
    if wait is not None:
        raise AuthError("locked", throttling.lockout_message(wait), wait)
    user = authenticate(request, username=username, password=password)
    if user is None or not isinstance(user, User):
        throttling.lockout_failure(username)
        raise AuthError("invalid_credentials", "The username or password is wrong.")
    if not user.email_verified:
        raise AuthError("email_not_verified",
                        "Verify your email address first: open the link we sent you.")
    return user


def token_obtain(*, username: str, password: str, otp: str = "") -> str:
    user = login_check(username=username, password=password)
    if user.is_staff:
        _staff_second_factor(user, username, otp)
    token, _ = Token.objects.get_or_create(user=user)
    return token.key


def _staff_second_factor(user: User, username: str, otp: str) -> None:
    """Staff get an API token only with a current code from one of their devices, as the admin
    asks at log-in (PRODUCT §7; ``accounts.permissions``). A wrong code counts towards the
    log-in lock-out like a wrong password, so codes cannot be guessed either."""
    from django_otp import devices_for_user, match_token

    if not any(devices_for_user(user, confirmed=True)):
        raise AuthError("otp_required", "Staff sign in with two-factor authentication: add an "
                                        "authenticator app in the admin first.")
    if not otp:
        raise AuthError("otp_required", "Staff sign in with two-factor authentication: send the "
                                        "current code from your authenticator app as otp.")
    if match_token(user, otp) is None:
        throttling.lockout_failure(username)
        raise AuthError("invalid_otp", "The two-factor code is wrong or has expired.")


# --- creators ----------------------------------------------------------------------------------
def creator_create(*, user: User, handle: str, country: str) -> CreatorProfile:
    errors: dict[str, list[str]] = {}
    try:
        HANDLE_VALIDATOR(handle)
    except ValidationError as exc:
        errors["handle"] = list(exc.messages)
    country = country.upper()
    if len(country) != 2 or not country.isalpha() or not country.isascii():
        errors["country"] = ["Use an ISO 3166-1 alpha-2 country code, e.g. US."]
    if "handle" not in errors and CreatorProfile.objects.filter(handle__iexact=handle).exists():
        errors["handle"] = ["This handle is taken."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        try:
            profile = CreatorProfile.objects.create(user=user, handle=handle, country=country)
        except IntegrityError as exc:
            raise ValidationError({"handle": ["This handle is taken."]}) from exc
        audit_record(actor=user, action="creator.created", obj=profile,
                     after={"handle": handle, "country": country})
    return profile


# --- deletion ----------------------------------------------------------------------------------
def account_delete(*, user: User, actor: User, reason: str = "") -> User:
    """Remove or pseudonymise personal data; keep the row that money and audit records point to.

    The user row stays (as ``deleted-<id>``) so ledger accounts, tips and audit events survive with a
    pseudonymous owner. Name, email, birth date, password, bio and tokens are gone; the creator
    handle is freed; brand memberships end; feature apps forget what they keep (``account_deleted``:
    the marketplace profile's bio and copies of the name and handle).
    """
    with transaction.atomic():
        user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
        if user.deleted_at is not None:
            return user
        pseudonym = f"deleted-{user.pk}"
        user.username = pseudonym
        user.email = ""
        user.first_name = user.last_name = ""
        user.date_of_birth = None
        user.email_verified_at = None
        user.set_unusable_password()
        user.is_active = False
        user.is_staff = user.is_superuser = False
        user.deleted_at = timezone.now()
        user.save()
        CreatorProfile.objects.filter(user=user).update(
            handle=pseudonym, display_name="", bio="")
        account_deleted.send(sender=User, user=user)  # the feature apps' own personal data
        user.brand_memberships.all().delete()
        Token.objects.filter(user=user).delete()
        user.groups.clear()
        user.user_permissions.clear()
        audit_record(actor=actor if actor.pk != user.pk else user, action="account.deleted",
                     obj=user, reason=reason, actor_kind="staff" if actor.pk != user.pk else "user")
    return user


# --- brands ------------------------------------------------------------------------------------
def brand_create(*, user: User, name: str) -> Brand:
    """A new, unverified brand with ``user`` as its owner."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Enter the brand's name."]})
    if problem := text_problem(name, 120):  # Brand.name
        raise ValidationError({"name": [problem]})
    base = slugify(name)[:120] or "brand"
    with transaction.atomic():
        slug, n = base, 1
        while Brand.objects.filter(slug=slug).exists():
            n += 1
            slug = f"{base}-{n}"
        brand = Brand.objects.create(name=name, slug=slug)
        BrandMembership.objects.create(brand=brand, user=user, role=BrandMembership.Role.OWNER)
        audit_record(actor=user, action="brand.created", obj=brand, after={"name": name, "slug": slug})
    return brand


def brand_member_add(*, brand: Brand, actor: User, username: str, role: str) -> BrandMembership:
    """An owner adds a person to the brand's team (as owner or manager)."""
    if role not in BrandMembership.Role.values:
        raise ValidationError({"role": ["Choose owner or manager."]})
    if problem := text_problem(username):
        raise ValidationError({"username": [problem]})
    member = User.objects.filter(username__iexact=username, deleted_at__isnull=True).first()
    if member is None:
        raise ValidationError({"username": ["No user with this username."]})
    with transaction.atomic():
        membership, created = BrandMembership.objects.get_or_create(
            brand=brand, user=member, defaults={"role": role})
        if not created:
            raise ValidationError({"username": ["This person is already on the team."]})
        audit_record(actor=actor, action="brand.member_added", obj=brand,
                     after={"user": member.username, "role": role})
    return membership


# --- blocks and age ----------------------------------------------------------------------------
def require_age(user: User, minimum: int, *, action: str) -> None:
    today = timezone.now().date()
    if user.date_of_birth is None or age_on(user.date_of_birth, today) < minimum:
        raise AgeRestricted(f"You must be at least {minimum} to {action}.")


def block_add(*, creator: CreatorProfile, username: str) -> Block:
    fan = User.objects.filter(username__iexact=username, deleted_at__isnull=True).first()
    if fan is None:
        raise ValidationError({"username": ["No user with this username."]})
    if fan.pk == creator.user_id:
        raise ValidationError({"username": ["You cannot block yourself."]})
    with transaction.atomic():
        block, created = Block.objects.get_or_create(creator=creator, fan=fan)
        if created:
            audit_record(actor=creator.user, action="block.added", obj=block, after={"fan": fan.username})
    return block


def block_remove(*, creator: CreatorProfile, username: str) -> bool:
    with transaction.atomic():
        block = Block.objects.filter(creator=creator, fan__username__iexact=username).first()
        if block is None:
            return False
        audit_record(actor=creator.user, action="block.removed", obj=block,
                     before={"fan": block.fan.username})
        block.delete()
    return True
