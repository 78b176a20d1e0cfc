"""Coins, gifts and videos API (API.md, Coins, gifts, diamonds)."""

from __future__ import annotations

from fractions import Fraction

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.http import Http404
from django.templatetags.static import static
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from creatornext.accounts.api import require_creator
from creatornext.accounts.authentication import TokenAuthentication
from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.selectors import creator_by_handle
from creatornext.core.api import DomainError, MoneyField, Pagination, StrictInputSerializer, paginated
from creatornext.core.idempotency import Claim, claim_of, idempotent
from creatornext.core.throttling import limit
from creatornext.ledger.services import GuardRefused
from creatornext.money import Money
from gifts import selectors, services
from gifts.models import CoinPack, CoinPurchase, Gift, GiftSend, LiveStream, Redemption, Video

IDEMPOTENCY = OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=True)


class CoinPackListApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        coins = serializers.IntegerField()
        price = MoneyField()

    @extend_schema(operation_id="coin_packs_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        packs = [{"id": p.pk, "coins": p.coins, "price": Money(p.price, p.currency)}
                 for p in CoinPack.objects.filter(active=True)]
        return Response(self.OutputSerializer(packs, many=True).data)


class CoinPurchaseCreateApi(APIView):
    throttle_classes = [limit("coin_purchases")]

    class InputSerializer(StrictInputSerializer):
        pack = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
        payment_method = serializers.CharField(max_length=255)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        status = serializers.CharField()
        coins = serializers.IntegerField()
        price = MoneyField()
        client_secret = serializers.CharField(allow_null=True)
        failure_code = serializers.CharField(allow_null=True)

    @staticmethod
    def out(purchase: CoinPurchase) -> dict:
        payment = purchase.payment
        return {"id": purchase.pk, "status": purchase.status, "coins": purchase.coins,
                "price": Money(purchase.price, purchase.currency),
                "client_secret": payment.client_secret if payment and payment.status == "requires_action"
                else None,
                "failure_code": (payment.failure_code or None) if payment else None}

    @extend_schema(operation_id="coin_purchases_create", request=InputSerializer,
                   responses={201: OutputSerializer}, parameters=[IDEMPOTENCY])
    @idempotent
    def post(self, request: Request) -> Response:
        """Buy a coin pack. Coins are credited once the payment succeeds; a receipt is emailed."""
        assert isinstance(request.user, User)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        purchase = services.coin_purchase_create(fan=request.user, **data.validated_data)
        return Response(self.OutputSerializer(self.out(purchase)).data, status=status.HTTP_201_CREATED)


class GiftListApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        coins = serializers.IntegerField()
        icon = serializers.CharField(help_text="URL of the icon (served by the app)")

    @extend_schema(operation_id="gifts_list", responses={200: OutputSerializer(many=True)})
    def get(self, request: Request) -> Response:
        gifts = [{"id": g.pk, "name": g.name, "coins": g.coins, "icon": static(g.icon)}
                 for g in Gift.objects.filter(active=True)]
        return Response(self.OutputSerializer(gifts, many=True).data)


class VideoOutput(serializers.Serializer):
    id = serializers.IntegerField()
    creator = serializers.CharField(source="creator.handle")
    kind = serializers.CharField()
    public = serializers.BooleanField()
    title = serializers.CharField()
    accepts_gifts = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class VideoCreateApi(APIView):
    class InputSerializer(StrictInputSerializer):
        kind = serializers.ChoiceField(choices=Video.Kind.choices)
        public = serializers.BooleanField(required=False, default=True)
        title = serializers.CharField(max_length=150)

    @extend_schema(operation_id="videos_create", request=InputSerializer, responses={201: VideoOutput})
    def post(self, request: Request) -> Response:
        """Register one of my videos (creators only)."""
        profile = require_creator(request, "Only creators can register videos.")
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        video = services.video_create(creator=profile, **data.validated_data)
        return Response(VideoOutput(video).data, status=status.HTTP_201_CREATED)


class CreatorVideoListApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(operation_id="creators_videos", responses={200: paginated(VideoOutput)})
    def get(self, request: Request, handle: str) -> Response:
        creator = creator_by_handle(handle)
        if creator is None:
            raise Http404
        paginator = Pagination()
        videos = Video.objects.select_related("creator").filter(creator=creator, public=True).order_by("-pk")
        page = paginator.paginate_queryset(videos, request, view=self) or []
        return paginator.get_paginated_response(VideoOutput(page, many=True).data)


class GiftSendCreateApi(APIView):
    throttle_classes = [limit("gift_sends")]

    def get_authenticators(self) -> list:
        # A token seen before costs no query here: the send's facts query confirms it (decision 0021).
        return [a(remember=True) if a is TokenAuthentication else a() for a in self.authentication_classes]

    class InputSerializer(StrictInputSerializer):
        creator = serializers.CharField(max_length=24)
        gift = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
        quantity = serializers.IntegerField(min_value=1, max_value=99)
        video = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**31 - 1)
        live_stream = serializers.IntegerField(required=False, allow_null=True, min_value=1,
                                               max_value=2**31 - 1)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        gift = serializers.CharField()
        quantity = serializers.IntegerField()
        coins_spent = serializers.IntegerField()
        diamonds_credited = serializers.IntegerField()
        diamonds_remainder = serializers.CharField(help_text="the fraction of a diamond that went to "
                                                             "the platform remainder, e.g. \"0\" or \"1/2\"")
        list_value = MoneyField()
        creator_value = MoneyField()
        platform_share_bps = serializers.IntegerField()

    @staticmethod
    def out(send: GiftSend) -> dict:
        """The response's data, as ``OutputSerializer`` would render it (tests hold the two equal),
        built directly: the platform's hottest response."""
        b = services.breakdown(send.coins_spent, send.diamonds_credited)
        return {"id": send.pk, "gift": send.gift.name, "quantity": send.quantity,
                "coins_spent": send.coins_spent, "diamonds_credited": send.diamonds_credited,
                "diamonds_remainder": str(Fraction(send.remainder_micro, 1_000_000)),
                "list_value": b.list_value.to_api(), "creator_value": b.creator_value.to_api(),
                "platform_share_bps": b.platform_share_bps}

    def _send_planned(self, claim: Claim, planned: services.PlannedSend | None, *,
                      guarded: bool = False) -> dict | None:
        """Write a send planned on PostgreSQL (its id drawn) in one statement with the key's record
        holding its response; the response. None (nothing written): no plan, or a ``guarded``
        plan whose remembered facts are no longer true (``GuardRefused``)."""
        if planned is None or planned.send.pk is None:
            return None
        out = self.out(planned.send)
        try:
            services.gift_send_write(planned, also=[claim.expression("k", status=status.HTTP_201_CREATED,
                                                                     data=out)])
        except GuardRefused:
            if not guarded:
                raise
            return None
        return out

    @extend_schema(operation_id="gift_sends_create", request=InputSerializer,
                   responses={201: OutputSerializer}, parameters=[IDEMPOTENCY])
    @idempotent(deferred=True)  # every effect of a send is in its transaction
    def post(self, request: Request) -> Response:
        """Send a gift to a creator's video: coins become the creator's diamonds."""
        assert isinstance(request.user, User)
        data = _SEND_INPUT.run_validation(request.data)
        claim = claim_of(request)
        token = request.auth.key if isinstance(request.auth, Token) else None  # confirmed by the plan
        send = {"fan": request.user, "token": token, "handle": data["creator"], "gift": data["gift"],
                "video": data.get("video"), "live_stream": data.get("live_stream")}
        if (known := selectors.known_send_facts(**send)) is not None:
            # PostgreSQL, a send like one this process wrote: planned with its facts, which a guard
            # checks again in the same message and transaction as the write (decision 0021).
            try:
                guarded = services.gift_send_plan(fan=request.user, create_accounts=False, token=token,
                                                  known=known, **data)
            except (DjangoValidationError, DomainError):
                guarded = None  # judged on remembered facts: judged afresh below
            written = self._send_planned(claim, guarded, guarded=True)
            if written is not None:
                return Response(written, status=status.HTTP_201_CREATED)
            selectors.forget_send_facts(**send)  # something changed: plan afresh, as below
        planned = services.gift_send_plan(fan=request.user, create_accounts=False, token=token, **data)
        if planned is not None and planned.send.pk is not None:
            # PostgreSQL, every account there: one statement, its own transaction, writes the
            # row, its posting and the key's record with this response (no claim before it, no
            # update after it, no BEGIN or COMMIT).
            written = self._send_planned(claim, planned)
            assert written is not None
            if planned.facts is not None:
                selectors.remember_send_facts(planned.facts, **send)
            return Response(written, status=status.HTTP_201_CREATED)
        # An account's first use (created with the send, so that a refusal undoes it too), or
        # SQLite (the send's id is known once its row is written): one transaction, the key first.
        with transaction.atomic():
            claim.take()  # first, so that a duplicate waits for this one and replays it
            if planned is None:  # planned again, creating the accounts in this transaction
                planned = services.gift_send_plan(fan=request.user, token=token, **data)
                assert planned is not None
            out = self.out(services.gift_send_write(planned, savepoint=False))
            claim.respond(status.HTTP_201_CREATED, out)
        return Response(out, status=status.HTTP_201_CREATED)


# Made once: a serializer deep-copies its fields when made, and validating keeps no state on it
# (``run_validation`` returns the data or raises), as for the marketplace search's query.
_SEND_INPUT = GiftSendCreateApi.InputSerializer()


class CoinPurchaseRefreshApi(APIView):
    @extend_schema(operation_id="coin_purchases_refresh", request=None,
                   responses={200: CoinPurchaseCreateApi.OutputSerializer})
    def post(self, request: Request, purchase_id: int) -> Response:
        """The buyer asks for the payment's state again (after 3-D Secure in the browser)."""
        assert isinstance(request.user, User)
        purchase = CoinPurchase.objects.select_related("payment").filter(pk=purchase_id,
                                                                         fan=request.user).first()
        if purchase is None:
            raise Http404
        if purchase.payment is not None:
            from creatornext.payments.services import payment_refresh

            payment_refresh(payment=purchase.payment)
            purchase.refresh_from_db()
        return Response(CoinPurchaseCreateApi.OutputSerializer(CoinPurchaseCreateApi.out(purchase)).data)


# --- live streams --------------------------------------------------------------------------------
class LiveStreamOutput(serializers.Serializer):
    id = serializers.IntegerField()
    creator = serializers.CharField(source="creator.handle")
    title = serializers.CharField()
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    is_live = serializers.BooleanField()


def _creator_of(request: Request) -> CreatorProfile:
    return require_creator(request, "Only creators can do this.")


class LiveStreamStartApi(APIView):
    class InputSerializer(StrictInputSerializer):
        title = serializers.CharField(max_length=150)

    @extend_schema(operation_id="live_streams_create", request=InputSerializer,
                   responses={201: LiveStreamOutput})
    def post(self, request: Request) -> Response:
        """Go live (creators enrolled in live-gifts)."""
        profile = _creator_of(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stream = services.live_stream_start(creator=profile, **data.validated_data)
        return Response(LiveStreamOutput(stream).data, status=status.HTTP_201_CREATED)


class LiveStreamEndApi(APIView):
    @extend_schema(operation_id="live_streams_end", request=None, responses={200: LiveStreamOutput})
    def post(self, request: Request, stream_id: int) -> Response:
        profile = _creator_of(request)
        stream = LiveStream.objects.filter(pk=stream_id, creator=profile).first()
        if stream is None:
            raise Http404
        return Response(LiveStreamOutput(services.live_stream_end(stream=stream)).data)


class LiveStreamSummaryApi(APIView):
    class OutputSerializer(LiveStreamOutput):
        class PerGift(serializers.Serializer):
            gift = serializers.CharField()
            quantity = serializers.IntegerField()
            diamonds = serializers.IntegerField()

        class TopGifter(serializers.Serializer):
            fan = serializers.CharField()
            coins = serializers.IntegerField()

        diamonds = serializers.IntegerField()
        per_gift = PerGift(many=True)
        top_gifters = TopGifter(many=True)

    @extend_schema(operation_id="live_streams_retrieve", responses={200: OutputSerializer})
    def get(self, request: Request, stream_id: int) -> Response:
        """The creator's summary of a stream: diamonds per gift type and the top gifters."""
        profile = _creator_of(request)
        stream = LiveStream.objects.select_related("creator").filter(pk=stream_id, creator=profile).first()
        if stream is None:
            raise Http404
        summary = selectors.stream_summary(stream)
        for name, value in summary.items():
            setattr(stream, name, value)
        return Response(self.OutputSerializer(stream).data)


class LiveStreamFeedApi(APIView):
    permission_classes = [AllowAny]

    class OutputSerializer(serializers.Serializer):
        class Item(serializers.Serializer):
            id = serializers.IntegerField()
            fan = serializers.CharField()
            gift = serializers.CharField()
            icon = serializers.CharField()
            quantity = serializers.IntegerField()
            diamonds = serializers.IntegerField()
            created_at = serializers.DateTimeField()

        results = Item(many=True)
        cursor = serializers.IntegerField(help_text=(
            "pass as ?after= to follow: gifts after it, the last few seconds' again (a gift commits "
            "a moment after its id is drawn, so ids can appear out of order); de-duplicate by id"))
        more = serializers.BooleanField(help_text=(
            "following (?after=): the page was full; ask again at once if the cursor moved"))
        is_live = serializers.BooleanField()

    @extend_schema(operation_id="live_streams_feed", responses={200: OutputSerializer},
                   parameters=[OpenApiParameter("after", int, description=(
                       "a previous response's cursor (0: from the stream's first gift)"))])
    def get(self, request: Request, stream_id: int) -> Response:
        """The stream's gifts, newest first (at most 50): without ``after`` the newest. Follow it
        by passing the last ``cursor`` as ``?after=``: then the page holds the oldest gifts after
        it, so every gift arrives however fast they come (``more``: ask again at once), and the
        newest few seconds come again until they settle, so that a gift that commits a moment
        late is never skipped; show each ``id`` once."""
        stream = LiveStream.objects.filter(pk=stream_id).first()
        if stream is None:
            raise Http404
        raw = request.query_params.get("after")
        if raw is not None and not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise serializers.ValidationError({"after": ["A cursor from a previous response."]})
        items, cursor, more = selectors.stream_feed(stream, after=None if raw is None else int(raw))
        return Response(self.OutputSerializer({"results": items, "cursor": cursor, "more": more,
                                               "is_live": stream.is_live}).data)


# --- redemptions ---------------------------------------------------------------------------------
class RedemptionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="approved, in_review or rejected")
    diamonds = serializers.IntegerField(help_text="the diamonds redeemed (an odd one stays with you)")
    amount = MoneyField()
    created_at = serializers.DateTimeField()


def _redemption(r) -> dict:
    return {"id": r.pk, "status": r.status, "diamonds": r.diamonds, "amount": Money(r.amount, r.currency),
            "created_at": r.created_at}


class RedemptionListCreateApi(APIView):
    throttle_classes = [limit("redemptions")]  # POST only

    class InputSerializer(StrictInputSerializer):
        diamonds = serializers.IntegerField(min_value=1, max_value=2**62)

    @extend_schema(operation_id="redemptions_create", request=InputSerializer,
                   responses={201: RedemptionOutput}, parameters=[IDEMPOTENCY])
    @idempotent
    def post(self, request: Request) -> Response:
        """Turn diamonds into cash (pending for the holding period)."""
        profile = _creator_of(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        redemption = services.redemption_create(creator=profile, **data.validated_data)
        return Response(RedemptionOutput(_redemption(redemption)).data, status=status.HTTP_201_CREATED)

    @extend_schema(operation_id="redemptions_list", responses={200: paginated(RedemptionOutput)})
    def get(self, request: Request) -> Response:
        profile = _creator_of(request)
        paginator = Pagination()
        page = paginator.paginate_queryset(Redemption.objects.filter(creator=profile), request, view=self) or []
        return paginator.get_paginated_response([RedemptionOutput(_redemption(r)).data for r in page])
