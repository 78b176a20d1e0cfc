"""Marketplace API (API.md, Marketplace): search, profiles, the metrics feed, shortlists."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from django.http import Http404, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from creatornext.accounts import selectors as account_selectors
from creatornext.accounts.api import require_creator
from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.permissions import staff_with_two_factor
from creatornext.core import config
from creatornext.core.api import ApiError, JsonOnlyNegotiation, MoneyField, Pagination, StrictInputSerializer, paginated
from creatornext.money import Money
from eligibility.selectors import enrollment_status
from marketplace import config as settings_
from marketplace import cursor, selectors, services, taxonomy
from marketplace.models import MarketplaceProfile, Shortlist


def _user(request: Request) -> User:
    assert isinstance(request.user, User)  # IsAuthenticated ran before this
    return request.user


def _require_brand_member(request: Request) -> User:
    user = _user(request)
    if not account_selectors.is_brand_member(user):
        raise ApiError(403, "permission_denied", "Only members of a brand can use the marketplace.")
    return user


class StrictInteger(serializers.IntegerField):
    """A JSON whole number; "30" or 30.0 is refused, not coerced."""

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictString(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


# --- output ------------------------------------------------------------------------------------
class AudienceSerializer(serializers.Serializer):
    countries = serializers.DictField(child=StrictInteger(min_value=0, max_value=100),
                                      help_text="Whole percentages by ISO 3166-1 country: {\"US\": 41}")
    genders = serializers.DictField(child=StrictInteger(min_value=0, max_value=100),
                                    help_text="female, male, other")
    ages = serializers.DictField(child=StrictInteger(min_value=0, max_value=100),
                                 help_text="13-17, 18-24, 25-34, 35-44, 45+")


class CreatorCardOutput(serializers.Serializer):
    handle = serializers.CharField()
    display_name = serializers.CharField()
    bio = serializers.CharField()
    country = serializers.CharField()
    categories = serializers.ListField(child=serializers.CharField())
    languages = serializers.ListField(child=serializers.CharField())
    followers = serializers.IntegerField()
    avg_views = serializers.IntegerField()
    engagement_rate_bps = serializers.IntegerField(help_text="Engagement rate in basis points.")
    audience = AudienceSerializer()
    rates = serializers.DictField(child=MoneyField(),
                                  help_text="Starting rate per deliverable type (video, live, series).")
    metrics_updated_at = serializers.DateTimeField(allow_null=True)


def card(profile: MarketplaceProfile) -> dict[str, Any]:
    return {
        "handle": profile.handle, "display_name": profile.display_name,
        "bio": profile.bio, "country": profile.country, "categories": profile.categories,
        "languages": profile.languages, "followers": profile.followers,
        "avg_views": profile.avg_views, "engagement_rate_bps": profile.engagement_rate_bps,
        "audience": {"countries": profile.audience_countries, "genders": profile.audience_genders,
                     "ages": profile.audience_ages},
        "rates": {k: Money.from_api(v) for k, v in profile.rates.items()},
        "metrics_updated_at": profile.metrics_updated_at,
    }


card_json = selectors.card_json  # the search's hot path renders cards without serializers


# --- search ------------------------------------------------------------------------------------
class SearchQuery(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=200, allow_blank=True,
                              help_text="Words of the handle or bio (each matches as a prefix).")
    country = serializers.RegexField(r"\A[A-Za-z]{2}\Z", required=False, help_text="ISO 3166-1 alpha-2")
    category = serializers.ChoiceField(choices=taxonomy.CATEGORIES, required=False)
    language = serializers.RegexField(r"\A[A-Za-z]{2}\Z", required=False, help_text="ISO 639-1")
    min_followers = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    max_followers = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    min_avg_views = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    max_avg_views = serializers.IntegerField(required=False, min_value=0, max_value=2**62)
    min_engagement_rate_bps = serializers.IntegerField(required=False, min_value=0, max_value=100_000)
    audience_country = serializers.RegexField(r"\A[A-Za-z]{2}\Z", required=False)
    audience_country_min_pct = serializers.IntegerField(required=False, min_value=1, max_value=100)
    audience_gender = serializers.ChoiceField(choices=taxonomy.GENDERS, required=False)
    audience_gender_min_pct = serializers.IntegerField(required=False, min_value=1, max_value=100)
    audience_age = serializers.ChoiceField(choices=taxonomy.AGE_BUCKETS, required=False)
    audience_age_min_pct = serializers.IntegerField(required=False, min_value=1, max_value=100)
    ordering = serializers.ChoiceField(choices=taxonomy.ORDERINGS, required=False,
                                       help_text="Default: relevance with q, else -followers.")
    cursor = serializers.CharField(required=False, max_length=200)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        for low, high in (("min_followers", "max_followers"), ("min_avg_views", "max_avg_views")):
            if low in attrs and high in attrs and attrs[low] > attrs[high]:
                errors[low] = [f"{low} is larger than {high}."]
        for name in ("audience_country", "audience_gender", "audience_age"):
            if (name in attrs) != (f"{name}_min_pct" in attrs):
                errors[name] = [f"Give {name} and {name}_min_pct together."]
        if attrs.get("ordering") == "relevance" and not selectors.SearchParams(
                q=attrs.get("q", "")).terms:
            errors["ordering"] = ["Ordering by relevance needs a search query (q)."]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


def search_params(data: dict[str, Any]) -> selectors.SearchParams:
    def share(name: str) -> selectors.Share | None:
        if name not in data:
            return None
        key = data[name].upper() if name == "audience_country" else data[name]
        return selectors.Share(key, data[f"{name}_min_pct"])

    return selectors.SearchParams(
        q=data.get("q", ""), country=data.get("country", "").upper(),
        category=data.get("category", ""), language=data.get("language", "").lower(),
        min_followers=data.get("min_followers"), max_followers=data.get("max_followers"),
        min_avg_views=data.get("min_avg_views"), max_avg_views=data.get("max_avg_views"),
        min_engagement_rate_bps=data.get("min_engagement_rate_bps"),
        audience_country=share("audience_country"), audience_gender=share("audience_gender"),
        audience_age=share("audience_age"), ordering=data.get("ordering", ""))


_SEARCH_FIELDS = frozenset(SearchQuery._declared_fields)
_SEARCH_QUERIES: dict[frozenset[str], SearchQuery] = {}
_SEARCH_QUERIES_KEPT = 256  # sets of parameter names; a real mix uses a few dozen


def _search_query(given: Iterable[str]) -> SearchQuery:
    """A SearchQuery holding only the fields the query gives, kept per set of names. Validating
    an absent field only finds it absent (none is required or has a default), but DRF asks each
    of the ~20 fields in turn, which cost more than the search's own SQL did; and a serializer
    deep-copies its fields when it is made, so each is made once. Validating holds no state on
    the serializer (``run_validation`` returns the data or raises): it is safe to reuse."""
    names = frozenset(given) & _SEARCH_FIELDS  # other parameters are ignored, as DRF would
    serializer = _SEARCH_QUERIES.get(names)
    if serializer is None:
        serializer = SearchQuery()
        for name in [str(n) for n in serializer.fields if n not in names]:
            serializer.fields.pop(name)
        if len(_SEARCH_QUERIES) < _SEARCH_QUERIES_KEPT:
            _SEARCH_QUERIES[names] = serializer
    return serializer


def run_search(query: dict[str, Any]) -> tuple[selectors.SearchParams, selectors.SearchPage]:
    """Validated query parameters → a page (shared by the API and the search page)."""
    validated = _search_query(query).run_validation(query)
    params = search_params(validated)
    position = None
    if validated.get("cursor"):
        try:
            position = cursor.decode(validated["cursor"])
        except cursor.BadCursor as exc:
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from exc
        if position.ordering != params.effective_ordering:
            raise serializers.ValidationError({"cursor": ["The cursor belongs to another ordering."]})
    size = validated.get("page_size") or _page_size()
    return params, selectors.search(params, position=position, page_size=size)


def page_link(url: str, position: cursor.Position | None) -> str | None:
    if position is None:
        return None
    return replace_query_param(url, "cursor", cursor.encode(position))


_PAGE_SIZE: list[tuple[float, int]] = []
PAGE_SIZE_MEMO_SECONDS = 5.0


def _page_size() -> int:
    """The staff setting, remembered by the process for a few seconds: reading it from the cache
    on every search cost a Redis round trip (~0.25 ms of CPU); a change applies within 5 s."""
    now = time.monotonic()
    if not _PAGE_SIZE or now - _PAGE_SIZE[0][0] > PAGE_SIZE_MEMO_SECONDS:
        _PAGE_SIZE[:] = [(now, config.get(settings_.SEARCH_PAGE_SIZE))]
    return _PAGE_SIZE[0][1]


class CreatorSearchApi(APIView):
    # Authentication: the default classes (creatornext.accounts.authentication: the token check
    # compiled once, which this search's per-request cost asked for first: decision 0009).
    content_negotiation_class = JsonOnlyNegotiation
    @extend_schema(operation_id="marketplace_creators_search", parameters=[SearchQuery],
                   responses={200: paginated(CreatorCardOutput)})
    def get(self, request: Request) -> HttpResponse:
        """Search marketplace creators (brand members). Every filter narrows; pages follow cursors."""
        _require_brand_member(request)
        _, page = run_search(request.query_params.dict())
        url = request.build_absolute_uri()
        # The cards arrive as JSON text (rendered by the database on PostgreSQL): the page is
        # written around them rather than decoded and encoded again.
        links = json.dumps({"next": page_link(url, page.next), "previous": page_link(url, page.previous)})
        body = f'{links[:-1]}, "results": [{", ".join(page.results)}]}}'
        return HttpResponse(body.encode(), content_type="application/json")


class CreatorCardApi(APIView):
    @extend_schema(operation_id="marketplace_creators_retrieve", responses={200: CreatorCardOutput})
    def get(self, request: Request, handle: str) -> Response:
        """One creator's marketplace card (brand members; 404 unless the creator is in search)."""
        _require_brand_member(request)
        profile = selectors.listed_profile(handle)
        if profile is None:
            raise Http404
        return Response(CreatorCardOutput(card(profile)).data)


class MarketplaceMetricsApi(APIView):
    class InputSerializer(StrictInputSerializer):
        avg_views = serializers.IntegerField(min_value=0)
        engagement_rate_bps = serializers.IntegerField(min_value=0, max_value=100_000)
        audience = AudienceSerializer()

    @extend_schema(operation_id="marketplace_creators_metrics_update", request=InputSerializer,
                   responses={200: CreatorCardOutput})
    def put(self, request: Request, handle: str) -> Response:
        """The marketplace metrics feed (staff): average views, engagement rate, audience splits.

        Followers come from the creator metrics feed (``PUT /creators/{handle}/metrics/``)."""
        user = _user(request)
        if not staff_with_two_factor(request):
            raise ApiError(403, "permission_denied", "Only staff, signed in with two-factor authentication, "
                                                     "feed marketplace metrics.")
        creator = account_selectors.creator_by_handle(handle)
        if creator is None:
            raise Http404
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        audience = data.validated_data["audience"]
        profile = services.metrics_update(
            creator=creator, actor=user, avg_views=data.validated_data["avg_views"],
            engagement_rate_bps=data.validated_data["engagement_rate_bps"],
            audience_countries={k.upper(): v for k, v in audience["countries"].items()},
            audience_genders=audience["genders"], audience_ages=audience["ages"])
        return Response(CreatorCardOutput(card(profile)).data)


# --- the creator's own profile -----------------------------------------------------------------
class MyProfileOutput(CreatorCardOutput):
    listed = serializers.BooleanField(help_text="Whether brands find you in search now.")
    program_status = serializers.CharField(
        help_text="Your marketplace program status: not_enrolled, enrolled, paused, revoked.")


def _my_creator(request: Request) -> CreatorProfile:
    return require_creator(request, "Only creators have a marketplace profile.")


def my_profile_data(creator: CreatorProfile) -> dict[str, Any]:
    profile = MarketplaceProfile.objects.filter(creator=creator).first()
    if profile is None:
        profile = services.profile_draft(creator)
    status_ = enrollment_status(creator, services.PROGRAM) or "not_enrolled"
    return {**card(profile), "listed": profile.pk is not None and selectors.is_listed(profile),
            "program_status": status_}


class MyProfileApi(APIView):
    class InputSerializer(StrictInputSerializer):
        bio = serializers.CharField(max_length=1000, allow_blank=True, trim_whitespace=False)
        categories = serializers.ListField(child=StrictString(), max_length=3,
                                           help_text=", ".join(taxonomy.CATEGORIES))
        languages = serializers.ListField(child=StrictString(), max_length=5,
                                          help_text="ISO 639-1 codes")
        country = serializers.CharField(max_length=2, min_length=2)
        rates = serializers.DictField(child=MoneyField(), required=False,
                                      help_text="Starting rate per deliverable: video, live, series.")

    @extend_schema(operation_id="marketplace_profile_retrieve", responses={200: MyProfileOutput})
    def get(self, request: Request) -> Response:
        """My marketplace profile, and whether brands find me in search now."""
        return Response(MyProfileOutput(my_profile_data(_my_creator(request))).data)

    @extend_schema(operation_id="marketplace_profile_update", request=InputSerializer,
                   responses={200: MyProfileOutput})
    def put(self, request: Request) -> Response:
        """Write my marketplace profile (creators enrolled in the marketplace program; else 409)."""
        creator = _my_creator(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.profile_update(creator=creator, actor=_user(request),
                                rates=data.validated_data.pop("rates", {}), **data.validated_data)
        return Response(MyProfileOutput(my_profile_data(creator)).data)


# --- shortlists --------------------------------------------------------------------------------
class ShortlistOutput(serializers.Serializer):
    id = serializers.IntegerField()
    brand = serializers.IntegerField(source="brand_id")
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ShortlistCreatorOutput(serializers.Serializer):
    handle = serializers.CharField()
    display_name = serializers.CharField()
    followers = serializers.IntegerField()
    listed = serializers.BooleanField(help_text="False once the creator has left marketplace search.")
    added_at = serializers.DateTimeField()


class ShortlistDetailOutput(ShortlistOutput):
    creators = ShortlistCreatorOutput(many=True)


def shortlist_detail(shortlist: Shortlist) -> dict[str, Any]:
    rows = selectors.shortlist_entries(shortlist)
    return {"id": shortlist.pk, "brand_id": shortlist.brand_id, "name": shortlist.name,
            "created_at": shortlist.created_at, "updated_at": shortlist.updated_at,
            "creators": [{"handle": r["creator"].handle, "display_name": r["creator"].display_name,
                          "followers": r["profile"].followers if r["profile"] else r["creator"].followers,
                          "listed": r["listed"], "added_at": r["entry"].added_at} for r in rows]}


def _shortlist(request: Request, shortlist_id: int) -> Shortlist:
    shortlist = selectors.shortlist_for(_user(request), shortlist_id)
    if shortlist is None:
        raise Http404  # another brand's shortlist is not revealed
    return shortlist


class ShortlistListCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        brand = serializers.IntegerField(min_value=1, max_value=2**63 - 1,
                                         help_text="One of your brands' ids.")
        name = serializers.CharField(max_length=120)

    @extend_schema(operation_id="shortlists_list", responses={200: paginated(ShortlistOutput)},
                   parameters=[OpenApiParameter("brand", int, description="Only this brand's.")])
    def get(self, request: Request) -> Response:
        """My brands' shortlists (brand members), newest first."""
        user = _require_brand_member(request)
        brand = request.query_params.get("brand")
        if brand is not None and not (brand.isascii() and brand.isdigit() and len(brand) < 18):
            raise serializers.ValidationError({"brand": ["A brand id."]})
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.shortlists_of(user, brand_id=int(brand) if brand else None), request, view=self)
        return paginator.get_paginated_response([ShortlistOutput(s).data for s in page or []])

    @extend_schema(operation_id="shortlists_create", request=InputSerializer,
                   responses={201: ShortlistDetailOutput})
    def post(self, request: Request) -> Response:
        user = _require_brand_member(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        brand = selectors.brand_of_member(user, data.validated_data["brand"])
        if brand is None:
            raise ApiError(400, "invalid", "Choose one of your brands.",
                           {"brand": ["Choose one of your brands."]})
        shortlist = services.shortlist_create(brand=brand, actor=user, name=data.validated_data["name"])
        return Response(ShortlistDetailOutput(shortlist_detail(shortlist)).data,
                        status=status.HTTP_201_CREATED)


class ShortlistDetailApi(APIView):
    class InputSerializer(StrictInputSerializer):
        name = serializers.CharField(max_length=120)

    @extend_schema(operation_id="shortlists_retrieve", responses={200: ShortlistDetailOutput})
    def get(self, request: Request, shortlist_id: int) -> Response:
        return Response(ShortlistDetailOutput(shortlist_detail(_shortlist(request, shortlist_id))).data)

    @extend_schema(operation_id="shortlists_update", request=InputSerializer,
                   responses={200: ShortlistDetailOutput})
    def patch(self, request: Request, shortlist_id: int) -> Response:
        """Rename a shortlist."""
        shortlist = _shortlist(request, shortlist_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.shortlist_rename(shortlist=shortlist, actor=_user(request), **data.validated_data)
        return Response(ShortlistDetailOutput(shortlist_detail(shortlist)).data)

    @extend_schema(operation_id="shortlists_delete", responses={204: None})
    def delete(self, request: Request, shortlist_id: int) -> Response:
        services.shortlist_delete(shortlist=_shortlist(request, shortlist_id), actor=_user(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShortlistCreatorAddApi(APIView):
    class InputSerializer(StrictInputSerializer):
        handle = serializers.CharField(max_length=24, help_text="A creator in marketplace search.")

    @extend_schema(operation_id="shortlists_creators_add", request=InputSerializer,
                   responses={200: ShortlistDetailOutput, 201: ShortlistDetailOutput})
    def post(self, request: Request, shortlist_id: int) -> Response:
        """Add a creator: 201, or 200 if already on the list."""
        shortlist = _shortlist(request, shortlist_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, created = services.shortlist_add(shortlist=shortlist, actor=_user(request),
                                            handle=data.validated_data["handle"])
        shortlist.refresh_from_db()
        return Response(ShortlistDetailOutput(shortlist_detail(shortlist)).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ShortlistCreatorRemoveApi(APIView):
    @extend_schema(operation_id="shortlists_creators_remove", responses={204: None})
    def delete(self, request: Request, shortlist_id: int, handle: str) -> Response:
        shortlist = _shortlist(request, shortlist_id)
        if not services.shortlist_remove(shortlist=shortlist, actor=_user(request), handle=handle):
            raise Http404
        return Response(status=status.HTTP_204_NO_CONTENT)

