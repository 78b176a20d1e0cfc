"""Writes: brand verification, the contact rule, marketplace profiles and metrics, shortlists.

Other code that lets a brand reach a creator (campaign invitations, messages) calls
``require_verified(brand)`` first: it raises ``BrandUnverified`` (403 ``brand_unverified``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, OuterRef, Q, Subquery
from django.utils import timezone

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User
from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.api import DomainError, LimitExceeded
from creatornext.core.emails import email_queue
from creatornext.core.text import text_problem
from creatornext.money import Money
from eligibility import services as eligibility_services
from marketplace import config as settings_
from marketplace import taxonomy
from marketplace.models import MarketplaceProfile, Shortlist, ShortlistEntry

PROGRAM = "marketplace"
CURRENCY = "USD"  # v1: every program charges and pays in USD (PRODUCT.md)


class BrandUnverified(DomainError):
    status_code = 403
    code = "brand_unverified"


# --- brands ------------------------------------------------------------------------------------
def require_verified(brand: Brand) -> None:
    """Only verified brands may contact creators (PRODUCT.md §4): raise ``BrandUnverified`` else."""
    verified = Brand.objects.filter(pk=brand.pk, verified_at__isnull=False).exists()
    if not verified:
        raise BrandUnverified(f"{brand.name} is not verified yet: staff verify a brand before it "
                              "can contact creators.")


def brand_verify(*, brand: Brand, actor: User, reason: str = "") -> Brand:
    """Staff verify a brand: audited, and its owners are told by email. Verifying twice is a no-op."""
    with transaction.atomic():
        brand = Brand.objects.select_for_update(no_key=True).get(pk=brand.pk)
        if brand.verified_at is not None:
            return brand
        brand.verified_at = timezone.now()
        brand.save(update_fields=["verified_at"])
        audit_record(actor=actor, action="brand.verified", obj=brand, before={"verified": False},
                     after={"verified": True, "verified_at": brand.verified_at.isoformat()},
                     reason=reason)
        owners = (User.objects.filter(brand_memberships__brand=brand,
                                      brand_memberships__role=BrandMembership.Role.OWNER,
                                      deleted_at__isnull=True)
                  .exclude(email="").order_by("pk"))
        for owner in owners:
            email_queue(to=[owner.email], template="brand_verified",
                        context={"username": owner.username, "brand": brand.name,
                                 "link": "/marketplace/"})
    return brand


def brand_unverify(*, brand: Brand, actor: User, reason: str = "") -> Brand:
    with transaction.atomic():
        brand = Brand.objects.select_for_update(no_key=True).get(pk=brand.pk)
        if brand.verified_at is None:
            return brand
        before = brand.verified_at.isoformat()
        brand.verified_at = None
        brand.save(update_fields=["verified_at"])
        audit_record(actor=actor, action="brand.unverified", obj=brand,
                     before={"verified": True, "verified_at": before}, after={"verified": False},
                     reason=reason)
    return brand


# --- profiles ----------------------------------------------------------------------------------
def facets_of(profile: MarketplaceProfile) -> str:
    """The profile's filter tokens for the search index (``taxonomy.facet_tokens``)."""
    return taxonomy.facet_tokens(categories=profile.categories, languages=profile.languages,
                                 audience_countries=profile.audience_countries,
                                 audience_genders=profile.audience_genders,
                                 audience_ages=profile.audience_ages)


def _error(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise _error("name", "Give the shortlist a name.")
    if problem := text_problem(name, 120):  # Shortlist.name
        raise _error("name", problem)
    return name


def _check_handle(handle: str) -> None:
    if problem := text_problem(handle):
        raise _error("handle", problem)


def _clean_profile(*, bio: str, categories: Sequence[str], languages: Sequence[str], country: str,
                   rates: Mapping[str, Money]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    bio = bio.strip()
    if problem := text_problem(bio, 1000):
        errors["bio"] = [problem]
    cats = list(dict.fromkeys(categories))
    bad = [c for c in cats if c not in taxonomy.CATEGORIES]
    if bad:
        errors["categories"] = [f"Unknown category: {', '.join(bad)}. Choose from "
                                f"{', '.join(taxonomy.CATEGORIES)}."]
    elif not 1 <= len(cats) <= 3:
        errors["categories"] = ["Choose one to three categories."]
    langs = list(dict.fromkeys(code.lower() for code in languages))
    if any(not taxonomy.LANGUAGE_RE.match(code) for code in langs):
        errors["languages"] = ["Use ISO 639-1 language codes, e.g. en, es, ko."]
    elif not 1 <= len(langs) <= 5:
        errors["languages"] = ["Give one to five languages."]
    country = country.upper()
    if not taxonomy.COUNTRY_RE.match(country):
        errors["country"] = ["Use an ISO 3166-1 alpha-2 country code, e.g. US."]
    clean_rates: dict[str, dict[str, Any]] = {}
    for deliverable, money in rates.items():
        if deliverable not in taxonomy.DELIVERABLES:
            errors[f"rates.{deliverable}"] = [f"Deliverables are {', '.join(taxonomy.DELIVERABLES)}."]
        elif money.currency != CURRENCY:
            errors[f"rates.{deliverable}"] = [f"Rates are in {CURRENCY}."]
        elif not 100 <= money.amount <= 100_000_000:
            errors[f"rates.{deliverable}"] = ["A starting rate is between 1.00 and 1,000,000.00."]
        else:
            clean_rates[deliverable] = money.to_api()
    if errors:
        raise ValidationError(errors)
    return {"bio": bio, "categories": cats, "languages": langs, "country": country,
            "rates": {d: clean_rates[d] for d in taxonomy.DELIVERABLES if d in clean_rates}}


def profile_draft(creator: CreatorProfile) -> MarketplaceProfile:
    """An unsaved profile with the creator's own values: what the editor starts from."""
    return MarketplaceProfile(creator=creator, handle=creator.handle, display_name=creator.display_name,
                              country=creator.country, followers=creator.followers)


def _copy(profile: MarketplaceProfile, creator: CreatorProfile) -> None:
    profile.handle, profile.display_name = creator.handle, creator.display_name
    profile.followers = creator.followers


def profile_update(*, creator: CreatorProfile, actor: User, bio: str, categories: Sequence[str],
                   languages: Sequence[str], country: str,
                   rates: Mapping[str, Money]) -> MarketplaceProfile:
    """The creator writes their marketplace profile; only while enrolled in ``marketplace``.

    Raises eligibility's ``NotEligible`` (409 ``not_eligible``) for anyone not enrolled.
    """
    eligibility_services.require_enrolled(creator, PROGRAM, own=True)
    values = _clean_profile(bio=bio, categories=categories, languages=languages, country=country,
                            rates=rates)
    with transaction.atomic():
        creator = CreatorProfile.objects.select_for_update(no_key=True).get(pk=creator.pk)
        profile = (MarketplaceProfile.objects.select_for_update(no_key=True).filter(creator=creator).first()
                   or profile_draft(creator))
        before = None if profile.pk is None else {k: getattr(profile, k) for k in values}
        for key, value in values.items():
            setattr(profile, key, value)
        _copy(profile, creator)
        profile.facets = facets_of(profile)
        profile.save()
        audit_record(actor=actor, action="marketplace.profile_saved", obj=profile, before=before,
                     after=values)
    return profile


def _clean_shares(name: str, shares: Mapping[str, int], allowed: Sequence[str] | None) -> dict[str, int]:
    errors = []
    out: dict[str, int] = {}
    for key, share in shares.items():
        if allowed is not None and key not in allowed:
            errors.append(f"Unknown key {key!r}: use {', '.join(allowed)}.")
        elif allowed is None and not taxonomy.COUNTRY_RE.match(key):
            errors.append(f"{key!r} is not an ISO 3166-1 alpha-2 country code.")
        elif isinstance(share, bool) or not isinstance(share, int) or not 0 <= share <= 100:
            errors.append(f"{key}: a share is a whole percentage from 0 to 100.")
        elif share:
            out[key] = share
    if not errors and sum(out.values()) > 100:
        errors.append("The shares add up to more than 100%.")
    if allowed is None and len(out) > 10:
        errors.append("Give at most the top 10 countries.")
    if errors:
        raise _error(name, " ".join(errors))
    return out


def metrics_update(*, creator: CreatorProfile, actor: User | None, avg_views: int,
                   engagement_rate_bps: int, audience_countries: Mapping[str, int],
                   audience_genders: Mapping[str, int],
                   audience_ages: Mapping[str, int]) -> MarketplaceProfile:
    """The marketplace metrics feed (staff API): average views, engagement, audience splits.

    Kept for any creator (enrolled or not), so a creator who enrols later is searchable with real
    figures at once; audited.
    """
    errors: dict[str, list[str]] = {}
    for name, value, top in (("avg_views", avg_views, 10**15),
                             ("engagement_rate_bps", engagement_rate_bps, 100_000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
            errors[name] = [f"A whole number from 0 to {top:,}."]
    values: dict[str, Any] = {"avg_views": avg_views, "engagement_rate_bps": engagement_rate_bps}
    for name, shares, allowed in (("audience.countries", audience_countries, None),
                                  ("audience.genders", audience_genders, taxonomy.GENDERS),
                                  ("audience.ages", audience_ages, taxonomy.AGE_BUCKETS)):
        try:
            values["audience_" + name.split(".")[1]] = _clean_shares(name, shares, allowed)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        creator = CreatorProfile.objects.select_for_update(no_key=True).get(pk=creator.pk)
        profile = (MarketplaceProfile.objects.select_for_update(no_key=True).filter(creator=creator).first()
                   or profile_draft(creator))
        before = None if profile.pk is None else {k: getattr(profile, k) for k in values}
        for key, value in values.items():
            setattr(profile, key, value)
        _copy(profile, creator)
        profile.metrics_updated_at = timezone.now()
        profile.facets = facets_of(profile)
        profile.save()
        audit_record(actor=actor, action="marketplace.metrics_updated", obj=profile, before=before,
                     after=values)
    return profile


def forget_deleted_account(*, user: User, **_: Any) -> int:
    """``accounts.signals.account_deleted``: the profile keeps no personal data of a deleted
    account — its bio goes, and its copies of the (now pseudonymous) handle and the display name
    follow the creator row at once rather than at the next ``profiles_sync``. The metrics and
    rates stay (collaborations and their history point at the profile). Returns rows changed."""
    source = CreatorProfile.objects.filter(pk=OuterRef("creator_id"))
    return MarketplaceProfile.objects.filter(creator__user=user).update(
        bio="", handle=Subquery(source.values("handle")[:1]),
        display_name=Subquery(source.values("display_name")[:1]))


def profiles_sync() -> int:
    """Refresh the copies (handle, display name, followers) of every profile whose creator's
    values changed; returns how many rows changed.

    The eligibility metrics feed owns followers; search sorts by this copy. Beat runs it every few
    minutes; one UPDATE of the rows that differ (an indexed join, no per-row round trips).
    """
    source = CreatorProfile.objects.filter(pk=OuterRef("creator_id"))
    return (MarketplaceProfile.objects
            .filter(~Q(followers=F("creator__followers")) | ~Q(handle=F("creator__handle"))
                    | ~Q(display_name=F("creator__display_name")))
            .update(followers=Subquery(source.values("followers")[:1]),
                    handle=Subquery(source.values("handle")[:1]),
                    display_name=Subquery(source.values("display_name")[:1])))


# --- shortlists --------------------------------------------------------------------------------
def shortlist_create(*, brand: Brand, actor: User, name: str) -> Shortlist:
    name = _check_name(name)
    with transaction.atomic():
        Brand.objects.select_for_update(no_key=True).filter(pk=brand.pk).first()  # one creation at a time
        if Shortlist.objects.filter(brand=brand).count() >= config.get(settings_.SHORTLISTS_PER_BRAND):
            raise LimitExceeded(f"{brand.name} already has the most shortlists a brand may keep.")
        shortlist = Shortlist.objects.create(brand=brand, name=name, created_by=actor)
        audit_record(actor=actor, action="shortlist.created", obj=shortlist,
                     after={"brand": brand.pk, "name": name})
    return shortlist


def shortlist_rename(*, shortlist: Shortlist, actor: User, name: str) -> Shortlist:
    name = _check_name(name)
    with transaction.atomic():
        before = shortlist.name
        shortlist.name = name
        shortlist.save(update_fields=["name", "updated_at"])
        audit_record(actor=actor, action="shortlist.renamed", obj=shortlist, before={"name": before},
                     after={"name": name})
    return shortlist


def shortlist_delete(*, shortlist: Shortlist, actor: User) -> None:
    with transaction.atomic():
        audit_record(actor=actor, action="shortlist.deleted", obj=shortlist,
                     before={"brand": shortlist.brand_id, "name": shortlist.name,
                             "creators": shortlist.entries.count()})
        shortlist.delete()


def shortlist_add(*, shortlist: Shortlist, actor: User, handle: str) -> tuple[ShortlistEntry, bool]:
    """Add a creator who is in marketplace search now; (entry, created). Adding twice is a no-op."""
    from marketplace.selectors import listed_profile

    _check_handle(handle)
    profile = listed_profile(handle)
    if profile is None:
        raise _error("handle", "No creator with this handle is in the marketplace.")
    with transaction.atomic():
        shortlist = Shortlist.objects.select_for_update(no_key=True).get(pk=shortlist.pk)
        existing = shortlist.entries.filter(creator_id=profile.creator_id).first()
        if existing is not None:
            return existing, False
        if shortlist.entries.count() >= config.get(settings_.SHORTLIST_MAX_CREATORS):
            raise LimitExceeded("This shortlist is full.")
        try:
            with transaction.atomic():
                entry = ShortlistEntry.objects.create(shortlist=shortlist, creator_id=profile.creator_id,
                                                      added_by=actor)
        except IntegrityError:  # pragma: no cover - the shortlist row lock serialises adds
            return shortlist.entries.get(creator_id=profile.creator_id), False
        Shortlist.objects.filter(pk=shortlist.pk).update(updated_at=timezone.now())
        audit_record(actor=actor, action="shortlist.creator_added", obj=shortlist,
                     after={"creator": profile.handle})
    return entry, True


def shortlist_remove(*, shortlist: Shortlist, actor: User, handle: str) -> bool:
    _check_handle(handle)
    with transaction.atomic():
        entry = shortlist.entries.filter(creator__handle__iexact=handle).first()
        if entry is None:
            return False
        audit_record(actor=actor, action="shortlist.creator_removed", obj=shortlist,
                     before={"creator": handle})
        entry.delete()
    return True
