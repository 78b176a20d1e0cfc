"""Coins, gift sends and their ledger postings.

A gift send is the platform's hottest path: one ledger transaction moves the fan's coins to the
platform and credits the creator's diamonds (the creator's row is locked last and briefly:
docs/decisions/0005-hot-accounts.md). Conversion is exact: diamonds = floor(coins × rate); the
fraction goes to the platform remainder account in micro-diamonds, so
credited × 1,000,000 + remainder = coins × rate × 1,000,000 exactly.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from fractions import Fraction
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from creatornext.accounts.authentication import confirm_token
from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.services import require_age
from creatornext.core import config
from creatornext.core.api import DomainError, LimitExceeded
from creatornext.core.prepared import PreparedInsert, ServerStatement
from creatornext.ledger.models import COIN, DIAMOND, MICRO_DIAMOND, AccountKind
from creatornext.ledger.services import (
    InsufficientFunds,
    LedgerError,
    Leg,
    Posting,
    account_for,
    accounts_for,
    accounts_if_any,
    platform_account,
    platform_account_if_any,
    post,
    post_once,
    posting_statement,
)
from creatornext.money import Money
from creatornext.payments import services as payments
from creatornext.payments.models import PaymentStatus
from eligibility.services import require_enrolled
from gifts import config as gift_config
from gifts import selectors
from gifts.models import CoinPack, CoinPurchase, Gift, GiftSend, LiveStream, Redemption, Video, WalletLock

VIDEO_PROGRAM = Video.PROGRAM
LIVE_PROGRAM = LiveStream.PROGRAM


class NotEnoughCoins(DomainError):
    code = "insufficient_funds"


class InvalidState(DomainError):
    code = "invalid_state"


class Blocked(DomainError):
    status_code = 403
    code = "blocked"


# --- rates and breakdown -----------------------------------------------------------------------
def conversion_rate() -> Fraction:
    return _rate(*config.get_many(gift_config.DIAMONDS_PER_COIN_NUM, gift_config.DIAMONDS_PER_COIN_DEN))


@functools.lru_cache(maxsize=256)
def _rate(num: int, den: int) -> Fraction:
    if gift_config.MICRO % den:
        raise ValidationError("The coin → diamond rate's denominator must divide 1,000,000.")
    return Fraction(num, den)


# Pure functions of a few small values that recur on every send (the same gifts at the same
# rates): kept, bounded. Fraction arithmetic was ~3 % of a send's CPU.
@functools.lru_cache(maxsize=4096)
def convert(coins: int, rate: Fraction) -> tuple[int, int]:
    """(whole diamonds credited, remainder in micro-diamonds) for ``coins`` at ``rate``."""
    exact = coins * rate
    whole = exact.numerator // exact.denominator
    remainder = (exact - whole) * gift_config.MICRO
    assert remainder.denominator == 1, "rate denominators divide 1,000,000"
    return whole, int(remainder)


@dataclass(frozen=True)
class Breakdown:
    list_value: Money  # what the coins cost a fan at the reference web price
    creator_value: Money  # what the diamonds are worth at the redemption rate
    platform_share_bps: int  # 1 − creator / list, in basis points


def _round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


# The settings a breakdown reads (a gift send reads them with its own: one cache round trip).
BREAKDOWN_SETTINGS = (gift_config.COIN_LIST_PRICE_NUM, gift_config.COIN_LIST_PRICE_DEN,
                      gift_config.REDEEM_CENTS_NUM, gift_config.REDEEM_CENTS_DEN)


def breakdown(coins: int, diamonds: int) -> Breakdown:
    return _breakdown(coins, diamonds, *config.get_many(*BREAKDOWN_SETTINGS))


@functools.lru_cache(maxsize=4096)
def _breakdown(coins: int, diamonds: int, list_num: int, list_den: int, redeem_num: int, redeem_den: int) -> Breakdown:
    list_cents = Fraction(coins * list_num, list_den)
    creator_cents = Fraction(diamonds * redeem_num, redeem_den)
    share = (1 - creator_cents / list_cents) * 10_000 if list_cents else Fraction(0)
    # Display values: list value rounded half up; the creator's value rounded down (what a
    # redemption of exactly these diamonds would pay).
    return Breakdown(Money(_round_half_up(list_cents), "USD"),
                     Money(creator_cents.numerator // creator_cents.denominator, "USD"),
                     _round_half_up(share))


# --- videos --------------------------------------------------------------------------------------
def video_create(*, creator: CreatorProfile, kind: str, title: str, public: bool = True) -> Video:
    if kind not in Video.Kind.values:
        raise ValidationError({"kind": [f"Choose one of {', '.join(Video.Kind.values)}."]})
    return Video.objects.create(creator=creator, kind=kind, title=title.strip() or "Untitled", public=public)


# --- gift sends ----------------------------------------------------------------------------------
# The send's row, its INSERT built once (core.prepared): the ORM's create cost ~10% of a send's CPU.
_SEND_ROW = PreparedInsert(GiftSend, ["fan_id", "creator_id", "gift_id", "quantity", "video_id",
                                      "live_stream_id", "coins_spent", "diamonds_credited", "remainder_micro",
                                      "rate_num", "rate_den", "created_at"], server="gift_send_insert")

# On PostgreSQL the row is written by the posting's own statement (its id drawn before it: ``selectors.next_send_id``).
_SEND_CTE = PreparedInsert(GiftSend, ["id", *_SEND_ROW.columns])


def _posting(send_id: int, legs: list[Leg], memo: str) -> Posting:
    return Posting(key=f"gift-send:{send_id}", kind="gift", legs=legs, ref=f"gift-send:{send_id}", memo=memo)


def _write_send(send: GiftSend, legs: list[Leg], also: Sequence[tuple[str, list[Any]]] = (),
                guard: tuple[ServerStatement, list[Any]] | None = None) -> int:
    """The send's row and its ledger posting; the row's id. Raises ``InsufficientFunds``.

    On PostgreSQL (the id drawn before: ``selectors.next_send_id``) both are one statement, prepared once per
    connection: the posting's expressions (``ledger.services.posting_statement``), the row, written
    only if the posting's entries were, and ``also``: expressions (sql, params) that may refer to
    the row (``s``), each writing one row (the request's idempotency key: ``Claim.expression``).
    Elsewhere: the row, then ``post_once`` (``also`` is PostgreSQL's only). ``guard``: sent
    first, in the same transaction (``PostingStatement.run``'s ``before``; ``GuardRefused``).
    """
    row = {name: getattr(send, name) for name in _SEND_ROW.columns}
    memo = f"{send.quantity} × {send.gift.name}"
    if send.pk is None:
        if also:
            raise ValueError("Expressions written with the send are PostgreSQL's")
        send_id = _SEND_ROW.insert(**row)
        post_once(_posting(send_id, legs, memo), savepoint=False)
        return send_id
    posting = _posting(send.pk, legs, memo)
    statement = posting_statement(posting, now=row["created_at"])
    with connection.cursor() as cursor:
        if statement.run(cursor, [_SEND_CTE.as_cte("s", after="e", id=send.pk, **row), *also], before=guard) is None:
            raise LedgerError(f"{posting.key} was posted before: send ids are drawn once.")
    return send.pk


@dataclass
class PlannedSend:
    """A gift send that has passed every check and is not written yet: ``send`` (unsaved; on
    PostgreSQL its ``pk`` is already drawn, so its response can be written with it) and the
    posting's legs. ``gift_send_write`` writes it."""

    send: GiftSend
    legs: list[Leg]
    facts: dict[str, Any] | None = None  # what the plan checked (``selectors.gift_send_facts``)

    @property
    def guard(self) -> tuple[ServerStatement, list[Any]] | None:
        """Remembered facts' check (``selectors.known_send_facts``), sent before the posting."""
        return None if self.facts is None else self.facts.get("guard")


def gift_send(*, fan: User, creator: str, gift: int, quantity: int, video: int | None = None,
              live_stream: int | None = None, savepoint: bool = True) -> GiftSend:
    """Send ``quantity`` × ``gift`` to a creator's public video or live stream (``gift_send_plan``,
    then ``gift_send_write``). ``savepoint=False`` is for callers whose own atomic block rolls back
    on any exception from here: one round trip less each way."""
    with transaction.atomic(savepoint=savepoint):
        planned = gift_send_plan(fan=fan, creator=creator, gift=gift, quantity=quantity, video=video,
                                 live_stream=live_stream)
        assert planned is not None  # accounts are created on first use
        return gift_send_write(planned, savepoint=False)


def gift_send_write(planned: PlannedSend, *, savepoint: bool = True,
                    also: Sequence[tuple[str, list[Any]]] = ()) -> GiftSend:
    """Write a planned send and its posting (with ``also``: ``_write_send``); the saved send."""
    send = planned.send
    try:
        if send.pk is not None and not connection.in_atomic_block:
            # PostgreSQL, outside a transaction block: one statement, its own transaction, which
            # undoes itself on a refusal (PostingStatement.run). No BEGIN and COMMIT round trips.
            send.pk = _write_send(send, planned.legs, also, planned.guard)
        else:
            with transaction.atomic(savepoint=savepoint):
                # No savepoint of its own below: any failure leaves this atomic block, which rolls back.
                send.pk = _write_send(send, planned.legs, also, planned.guard)
    except InsufficientFunds as exc:
        raise NotEnoughCoins(f"Not enough coins: {send.coins_spent:,} needed.",
                             {"quantity": ["Buy more coins or send fewer."]}) from exc
    return send


def gift_send_plan(*, fan: User, creator: str, gift: int, quantity: int, video: int | None = None,
                   live_stream: int | None = None, create_accounts: bool = True,
                   token: str | None = None, known: dict[str, Any] | None = None) -> PlannedSend | None:
    """Check a send of ``quantity`` × ``gift`` to a creator's public video or live stream and
    plan it. Nothing is written but accounts on their first use; without ``create_accounts`` not
    even those: the plan is None when one is missing (the caller plans again in a transaction).
    ``token``: the key of the API token that authenticated the fan, confirmed here (401 if it is
    no longer theirs or they are inactive: ``TokenAuthentication(remember=True)``).
    ``known``: facts remembered from an earlier send (``selectors.known_send_facts``) instead of
    the query; the plan then carries their guard, which the write sends before its posting.

    The hottest path of the platform, so every fact it checks is read in one query
    (``selectors.gift_send_facts``) and the refusals are worked out from those facts in the order
    API.md documents them.
    """
    if (video is None) == (live_stream is None):
        raise ValidationError({"video": ["Send to exactly one target: a video or a live stream."]})
    if not 1 <= quantity <= gift_config.MAX_QUANTITY:
        raise ValidationError({"quantity": ["Send between 1 and 99."]})
    program = VIDEO_PROGRAM if video is not None else LIVE_PROGRAM
    facts = known if known is not None else selectors.gift_send_facts(
        fan=fan, token=token, handle=creator, gift=gift, video=video, live_stream=live_stream)
    if token is not None:
        confirm_token(token, fan.pk, facts["token_confirmed"] if facts is not None else None)
    if facts is None or facts["gift_coins"] is None:
        if not Gift.objects.filter(pk=gift, active=True).exists():
            raise ValidationError({"gift": ["No such gift in the catalog."]})
        raise ValidationError({"creator": ["No creator with this handle."]})
    handle = facts["handle"]
    item = Gift(pk=gift, name=facts["gift_name"], icon=facts["gift_icon"], coins=facts["gift_coins"], active=True)
    if not facts["target_found"]:
        if video is not None:
            raise ValidationError({"video": [f"@{handle} has no such public video."]})
        raise ValidationError({"live_stream": [f"@{handle} has no such live stream."]})
    if facts["user_id"] == fan.pk:
        raise ValidationError({"creator": ["You cannot send gifts to yourself."]})
    # The settings this send reads, and those of the breakdown its response shows (kept for the
    # rest of the request by config's request memo): kept by the process while the facts query
    # finds the settings table unchanged (PostgreSQL), else in one cache round trip.
    min_age, rate_num, rate_den, *_ = config.get_many(gift_config.MIN_AGE, gift_config.DIAMONDS_PER_COIN_NUM,
                                                      gift_config.DIAMONDS_PER_COIN_DEN, *BREAKDOWN_SETTINGS,
                                                      version=facts.get("settings_version"))
    fan.date_of_birth = facts["fan_date_of_birth"]  # as of this send (the fan may be remembered)
    require_age(fan, min_age, action="send gifts")
    if facts["blocked"]:
        raise Blocked(f"@{handle} does not accept gifts from you.")
    if video is not None and not Video.kind_accepts_gifts(facts["video_kind"]):
        raise InvalidState(f"A {facts['video_kind']} video cannot receive gifts.",
                           {"video": ["Gifts are off here."]})
    if live_stream is not None and not LiveStream.live_until(facts["stream_ended_at"]):
        raise InvalidState("This live stream has ended.", {"live_stream": ["The stream has ended."]})
    if facts["wallet_locked"]:
        raise InvalidState("Your coin wallet is locked for review.", {"gift": ["Wallet locked."]})
    if not facts["enrolled"]:
        require_enrolled(facts["id"], program)  # raises (unless just enrolled), saying only that they do not take part

    rate = _rate(rate_num, rate_den)
    coins = item.coins * quantity
    diamonds, remainder = convert(coins, rate)
    send = GiftSend(pk=facts.get("send_id"), fan=fan, creator_id=facts["id"], gift=item, quantity=quantity,
                    video_id=video, live_stream_id=live_stream, coins_spent=coins, diamonds_credited=diamonds,
                    remainder_micro=remainder, rate_num=rate.numerator, rate_den=rate.denominator,
                    created_at=timezone.now())
    # Both owners' accounts in one query (or none: remembered); platform accounts likewise. Without
    # ``create_accounts`` a missing one (its first use) makes the plan None: the caller plans again
    # in a transaction, so that a refused send undoes the accounts it created too.
    owners = ((fan, AccountKind.COINS, COIN), (facts["user_id"], AccountKind.DIAMONDS, DIAMOND))
    fan_coins, creator_diamonds = accounts_for(*owners) if create_accounts else accounts_if_any(*owners)
    kinds = [(AccountKind.COINS_SPENT, COIN)]
    if diamonds:
        kinds.append((AccountKind.DIAMONDS_ISSUED, DIAMOND))
    if remainder:
        kinds += [(AccountKind.DIAMONDS_ISSUED, MICRO_DIAMOND), (AccountKind.DIAMOND_REMAINDER, MICRO_DIAMOND)]
    found = {key: platform_account_if_any(*key, create=create_accounts) for key in kinds}
    platform = {key: account for key, account in found.items() if account is not None}  # typed: no None
    if fan_coins is None or creator_diamonds is None or len(platform) < len(found):
        return None
    legs = [Leg(fan_coins, -coins), Leg(platform[AccountKind.COINS_SPENT, COIN], coins)]
    if diamonds:
        legs += [Leg(platform[AccountKind.DIAMONDS_ISSUED, DIAMOND], -diamonds), Leg(creator_diamonds, diamonds)]
    if remainder:
        legs += [Leg(platform[AccountKind.DIAMONDS_ISSUED, MICRO_DIAMOND], -remainder),
                 Leg(platform[AccountKind.DIAMOND_REMAINDER, MICRO_DIAMOND], remainder)]
    return PlannedSend(send, legs, facts=facts)


# --- coin purchases ------------------------------------------------------------------------------
def coin_purchase_create(*, fan: User, pack: int, payment_method: str) -> CoinPurchase:
    item = CoinPack.objects.filter(pk=pack, active=True).first()
    if item is None:
        raise ValidationError({"pack": ["No such coin pack."]})
    require_age(fan, config.get(gift_config.MIN_AGE), action="buy coins")
    if WalletLock.objects.filter(fan=fan).exists():
        raise InvalidState("Your coin wallet is locked for review.")
    limits = {"daily_total": config.get(gift_config.PURCHASE_DAILY_TOTAL)}
    with transaction.atomic():
        User.objects.select_for_update(no_key=True).filter(pk=fan.pk).first()  # one purchase check at a time
        start = datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)  # the UTC day
        # The day's purchases in the pack's currency (the limit is in minor units of one currency:
        # cents and yen never add up).
        today = (CoinPurchase.objects.filter(fan=fan, created_at__gte=start, currency=item.currency)
                 .exclude(payment__status__in=(PaymentStatus.FAILED, PaymentStatus.CANCELED))
                 .aggregate(total=Sum("price"))["total"] or 0)
        if today + item.price > limits["daily_total"]:
            raise LimitExceeded(f"You can buy at most {Money(limits['daily_total'], item.currency)} of coins "
                                "per day.", {"pack": ["Daily purchase limit reached."]})
        purchase = CoinPurchase.objects.create(fan=fan, pack=item, coins=item.coins, price=item.price,
                                               currency=item.currency, limits=limits)
        purchase.payment = payments.payment_create(
            purpose="coin_purchase", ref=f"coin-purchase:{purchase.pk}", payer=fan,
            amount=Money(item.price, item.currency), payment_method=payment_method,
            metadata={"coin_purchase_id": purchase.pk})
        purchase.save(update_fields=["payment"])
    return purchase




# --- live streams --------------------------------------------------------------------------------
def live_stream_start(*, creator: CreatorProfile, title: str) -> LiveStream:
    require_enrolled(creator, LIVE_PROGRAM, own=True)
    if LiveStream.objects.filter(creator=creator, ended_at__isnull=True).exists():
        raise InvalidState("You are already live: end that stream first.")
    return LiveStream.objects.create(creator=creator, title=title.strip() or "Live")


def live_stream_end(*, stream: LiveStream) -> LiveStream:
    with transaction.atomic():
        stream = LiveStream.objects.select_for_update(no_key=True).get(pk=stream.pk)
        if not stream.is_live:
            raise InvalidState("This live stream has already ended.")
        stream.ended_at = timezone.now()
        stream.save(update_fields=["ended_at"])
    return stream


# --- redemption ----------------------------------------------------------------------------------
def redemption_rate() -> Fraction:
    return Fraction(config.get(gift_config.REDEEM_CENTS_NUM), config.get(gift_config.REDEEM_CENTS_DEN))


def redemption_quote(diamonds: int, rate: Fraction) -> tuple[int, int]:
    """(cash in cents rounded down, the diamonds that cash pays for). An odd diamond stays."""
    cents = (diamonds * rate).numerator // (diamonds * rate).denominator if diamonds else 0
    paid_for = -((-cents) // rate) if rate else 0  # the fewest diamonds worth ``cents``: ceil(cents / rate)
    return cents, int(paid_for)


def _diamond_legs(creator: CreatorProfile, diamonds: int, sink: str) -> list[Leg]:
    return [Leg(account_for(creator.user, AccountKind.DIAMONDS, DIAMOND), -diamonds),
            Leg(platform_account(sink, DIAMOND), diamonds)]


def _pay_out_redemption(redemption: Redemption) -> None:
    """Approved: the diamonds are redeemed and the cash is the creator's pending income."""
    from creatornext.ledger.services import creator_income

    cur = redemption.currency
    creator_income(key=f"redemption:{redemption.pk}:paid", kind="redemption", owner=redemption.creator.user,
                   amount=Money(redemption.amount, cur), ref=f"redemption:{redemption.pk}",
                   source_legs=[Leg(platform_account(AccountKind.REDEMPTIONS, cur), -redemption.amount)],
                   memo=f"{redemption.diamonds:,} diamonds redeemed")


def redemption_create(*, creator: CreatorProfile, diamonds: int) -> Redemption:
    rate = redemption_rate()
    limits = {"min": config.get(gift_config.REDEEM_MIN), "daily_max": config.get(gift_config.REDEEM_DAILY_MAX),
              "review_threshold": config.get(gift_config.REDEEM_REVIEW_THRESHOLD)}
    cents, paid_for = redemption_quote(diamonds, rate)
    if cents < limits["min"]:
        smallest = -((-limits["min"]) // rate)
        raise ValidationError({"diamonds": [
            f"The smallest redemption is {Money(limits['min'], 'USD')} ({int(smallest):,} diamonds)."]})
    with transaction.atomic():
        User.objects.select_for_update(no_key=True).filter(pk=creator.user_id).first()  # caps: one at a time
        start = datetime.combine(timezone.now().date(), time.min, tzinfo=UTC)
        today = (Redemption.objects.filter(creator=creator, created_at__gte=start)
                 .exclude(status=Redemption.Status.REJECTED).aggregate(total=Sum("amount"))["total"] or 0)
        if today + cents > limits["daily_max"]:
            raise LimitExceeded(f"You can redeem at most {Money(limits['daily_max'], 'USD')} per day; "
                                f"{Money(max(0, limits['daily_max'] - today), 'USD')} left today.",
                                {"diamonds": ["Daily redemption limit reached."]})
        review = today + cents > limits["review_threshold"]
        redemption = Redemption.objects.create(
            creator=creator, diamonds=paid_for, amount=cents, rate_num=rate.numerator, rate_den=rate.denominator,
            limits=limits, status=Redemption.Status.IN_REVIEW if review else Redemption.Status.APPROVED)
        sink = AccountKind.DIAMONDS_IN_REVIEW if review else AccountKind.DIAMONDS_REDEEMED
        try:
            post(Posting(key=f"redemption:{redemption.pk}:diamonds", kind="redemption_diamonds",
                         legs=_diamond_legs(creator, paid_for, sink), ref=f"redemption:{redemption.pk}"))
        except InsufficientFunds as exc:
            raise NotEnoughCoins(f"Not enough diamonds: {paid_for:,} needed.",
                                 {"diamonds": ["More than you have."]}) from exc
        if not review:
            redemption.decided_at = timezone.now()
            redemption.save(update_fields=["decided_at"])
            _pay_out_redemption(redemption)
    return redemption


def redemption_review(*, redemption: Redemption, actor: User, approve: bool, reason: str) -> Redemption:
    """Staff decide a redemption in review: approve pays it; reject returns the diamonds. A large
    one is decided only when a second staff member makes the same decision (it stays in review and
    the first call returns it unchanged)."""
    from creatornext.audit.services import audit_record
    from creatornext.core.approvals import second_approval

    if not reason.strip():
        raise ValidationError({"reason": ["Give a reason."]})
    with transaction.atomic():
        redemption = (Redemption.objects.select_for_update(no_key=True).select_related("creator__user")
                      .get(pk=redemption.pk))
        if redemption.status != Redemption.Status.IN_REVIEW:
            raise InvalidState(f"This redemption is already {redemption.status}.")
        if second_approval(action="redemption.approve" if approve else "redemption.reject",
                           subject=f"redemption:{redemption.pk}", amount=Money(redemption.amount, redemption.currency),
                           actor=actor, reason=reason) is not None:
            return redemption
        held = platform_account(AccountKind.DIAMONDS_IN_REVIEW, DIAMOND)
        if approve:
            post(Posting(key=f"redemption:{redemption.pk}:approved", kind="redemption_approved", legs=[
                Leg(held, -redemption.diamonds),
                Leg(platform_account(AccountKind.DIAMONDS_REDEEMED, DIAMOND), redemption.diamonds)],
                ref=f"redemption:{redemption.pk}"))
            _pay_out_redemption(redemption)
        else:
            post(Posting(key=f"redemption:{redemption.pk}:rejected", kind="redemption_rejected", legs=[
                Leg(held, -redemption.diamonds),
                Leg(account_for(redemption.creator.user, AccountKind.DIAMONDS, DIAMOND), redemption.diamonds)],
                ref=f"redemption:{redemption.pk}"))
        before = redemption.status
        redemption.status = Redemption.Status.APPROVED if approve else Redemption.Status.REJECTED
        redemption.reviewed_by, redemption.review_reason = actor, reason
        redemption.decided_at = timezone.now()
        redemption.save()
        audit_record(actor=actor, action="redemption.approved" if approve else "redemption.rejected",
                     obj=redemption, before={"status": before}, after={"status": redemption.status},
                     reason=reason)
    return redemption
