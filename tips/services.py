"""Tips: create (checks, caps, payment), refund, and the payment handlers that credit exactly once."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from creatornext.accounts.models import CreatorProfile, User
from creatornext.accounts.selectors import creator_by_handle, is_blocked
from creatornext.accounts.services import require_age
from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.api import DomainError, LimitExceeded
from creatornext.core.approvals import second_approval
from creatornext.money import Money
from creatornext.payments import services as payments
from creatornext.payments.models import PaymentStatus
from eligibility.services import require_enrolled
from tips import config as tip_config
from tips.models import Tip

PROGRAM = "tips"
CURRENCY = "USD"  # v1 charges every program in USD (PRODUCT.md)
NOT_COUNTED = (PaymentStatus.FAILED, PaymentStatus.CANCELED)


class Blocked(DomainError):
    status_code = 403
    code = "blocked"


class RefundNotPossible(DomainError):
    code = "invalid_state"


def _limits() -> dict[str, int]:
    return {"min_amount": config.get(tip_config.MIN_AMOUNT), "max_amount": config.get(tip_config.MAX_AMOUNT),
            "daily_total": config.get(tip_config.DAILY_TOTAL),
            "daily_count": config.get(tip_config.DAILY_COUNT), "min_age": config.get(tip_config.MIN_AGE)}


def _validate(*, fan: User, handle: str, amount: Money, limits: dict[str, int]) -> CreatorProfile:
    creator = creator_by_handle(handle)
    if creator is None:
        raise ValidationError({"creator": ["No creator with this handle."]})
    if amount.currency != CURRENCY:
        raise ValidationError({"amount": [f"Tips are in {CURRENCY}."]})
    low, high = Money(limits["min_amount"], CURRENCY), Money(limits["max_amount"], CURRENCY)
    if not low <= amount <= high:
        raise ValidationError({"amount": [f"A tip is between {low} and {high}."]})
    if creator.user_id == fan.pk:
        raise ValidationError({"creator": ["You cannot tip yourself."]})
    require_age(fan, limits["min_age"], action="send tips")
    if is_blocked(creator, fan):
        raise Blocked(f"@{creator.handle} does not accept tips from you.")
    require_enrolled(creator, PROGRAM)
    return creator


def _check_caps(fan: User, amount: Money, limits: dict[str, int]) -> None:
    """Rolling 24-hour caps, checked with the fan's row locked so concurrent tips cannot both pass."""
    User.objects.select_for_update(no_key=True).filter(pk=fan.pk).first()
    since = timezone.now() - timedelta(hours=24)
    recent = (Tip.objects.filter(fan=fan, created_at__gte=since)
              .exclude(payment__status__in=NOT_COUNTED)
              .aggregate(total=Sum("amount"), count=Count("id")))
    total, count = recent["total"] or 0, recent["count"]
    if count + 1 > limits["daily_count"]:
        raise LimitExceeded(f"You can send at most {limits['daily_count']} tips in 24 hours.",
                            {"amount": ["Daily tip count reached."]})
    if total + amount.amount > limits["daily_total"]:
        left = Money(max(0, limits["daily_total"] - total), CURRENCY)
        raise LimitExceeded(f"You can tip at most {Money(limits['daily_total'], CURRENCY)} in 24 hours; "
                            f"{left} left.", {"amount": ["Daily tip total reached."]})


def tip_create(*, fan: User, creator: str, amount: Money, payment_method: str, message: str = "",
               anonymous: bool = False) -> Tip:
    limits = _limits()
    profile = _validate(fan=fan, handle=creator, amount=amount, limits=limits)
    with transaction.atomic():
        _check_caps(fan, amount, limits)
        tip = Tip.objects.create(fan=fan, creator=profile, amount=amount.amount, currency=amount.currency,
                                 message=message, anonymous=anonymous, limits=limits)
        tip.payment = payments.payment_create(
            purpose="tip", ref=f"tip:{tip.pk}", payer=fan, amount=amount, payment_method=payment_method,
            metadata={"tip_id": tip.pk})
        tip.save(update_fields=["payment"])
    return tip


def tip_refresh(*, tip: Tip) -> Tip:
    """After the fan authenticated (3-D Secure): ask the provider for the payment's state."""
    if tip.payment is not None:
        payments.payment_refresh(payment=tip.payment)
        tip.refresh_from_db()
    return tip


def tip_refund(*, tip: Tip, actor: User, reason: str = "") -> bool:
    """Refund a tip in full; True when done. Above ``staff.second_approval_above`` (PRODUCT §7) the
    first staff member's call only records the request and returns False; a second, different
    member's call refunds. ``tip.payment`` is refreshed either way."""
    if tip.payment is None:
        raise RefundNotPossible("This tip has no payment to refund.")
    try:
        with transaction.atomic():
            # The payment row is the subject's lock: two members confirming at once queue here.
            payment, left = payments.refundable(tip.payment)
            if second_approval(action="tip.refund", subject=f"tip:{tip.pk}", amount=Money(left, payment.currency),
                               actor=actor, reason=reason) is not None:
                done = False
            else:
                refund = payments.payment_refund(payment=tip.payment, actor=actor, reason=reason)
                # "pending": asked for; the creator's net is taken back when the provider says
                # it succeeded (the payment then reads "refunded").
                audit_record(actor=actor, action="tip.refunded", obj=tip, reason=reason,
                             after={"amount": tip.amount, "refund_status": refund.status})
                done = True
    except payments.RefundRefused as exc:
        raise RefundNotPossible(str(exc)) from exc
    tip.payment.refresh_from_db()
    return done


def tips_daily_digest(*, day) -> int:
    """Email each creator who received tips on ``day`` (UTC) a summary; at most once per day."""
    from datetime import UTC, datetime, time

    from django.db import IntegrityError

    from creatornext.core.emails import email_queue
    from tips.models import TipDigest

    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    rows = (Tip.objects.filter(created_at__gte=start, created_at__lt=end,
                               payment__status=PaymentStatus.SUCCEEDED)
            .values("creator_id", "creator__handle", "creator__user__email", "currency")
            .annotate(count=Count("id"), gross=Sum("amount"), fees=Sum("payment__fee")))
    sent = 0
    for row in rows:
        try:
            with transaction.atomic():
                TipDigest.objects.create(creator_id=row["creator_id"], day=day)
                email_queue(to=[row["creator__user__email"]], template="tips_digest", context={
                    "handle": row["creator__handle"], "day": day, "count": row["count"],
                    "gross": Money(row["gross"], row["currency"]).format(),
                    "net": Money(row["gross"] - (row["fees"] or 0), row["currency"]).format()})
        except IntegrityError:
            continue  # already sent for that day
        sent += 1
    return sent
