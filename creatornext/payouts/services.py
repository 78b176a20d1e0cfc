"""Payout accounts and withdrawals (PRODUCT.md §5). Batches are in ``batches.py``.

Withdrawal rules, each a refusal that changes nothing (one transaction, rolled back):
amount ≥ the minimum (400), ≤ the daily maximum per UTC day with what was already requested that
day (409 ``limit_exceeded``), ≤ available cash after any debt is repaid from it (409
``insufficient_funds``), a payout account with payouts enabled and outside its cooling-off after a
change (409 ``invalid_state``). A creator's withdrawals are serialised on their payout account row
(``SELECT … FOR NO KEY UPDATE``, decision 0017), so concurrent requests that straddle the daily cap stop exactly at it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from creatornext.audit.services import audit_record
from creatornext.core import config
from creatornext.core.api import DomainError, LimitExceeded
from creatornext.ledger.models import Account, AccountKind
from creatornext.ledger.services import Leg, Posting, account_for, lock_order, post
from creatornext.money import Money
from creatornext.payments import provider
from creatornext.payouts.config import COOLING_OFF_DAYS, DAILY_MAX, MIN_WITHDRAWAL
from creatornext.payouts.models import PayoutAccount, Withdrawal

log = logging.getLogger(__name__)
ONBOARD_SALT = "payouts.onboard"
ONBOARD_MAX_AGE = 3600


class InsufficientFunds(DomainError):
    code = "insufficient_funds"


# --- payout accounts ---------------------------------------------------------------------------
def payout_account_start(*, user: Any) -> tuple[PayoutAccount, bool]:
    """The creator's payout account row (created on first call; the provider account is created
    when the onboarding link is opened). Returns (account, created)."""
    with transaction.atomic():
        account, created = PayoutAccount.objects.get_or_create(user=user,
                                                               defaults={"changed_at": timezone.now()})
        if created:
            audit_record(actor=user, action="payout_account.created", obj=account)
    return account, created


def onboarding_url(account: PayoutAccount, site_url: str) -> str:
    """Our own signed, short-lived link: opening it creates a fresh provider onboarding link (the
    provider's links expire within minutes, so they are made at the last moment)."""
    token = signing.dumps({"a": account.pk}, salt=ONBOARD_SALT)
    return site_url.rstrip("/") + reverse("payouts-onboard", args=[token])


def account_from_token(token: str) -> PayoutAccount | None:
    try:
        data = signing.loads(token, salt=ONBOARD_SALT, max_age=ONBOARD_MAX_AGE)
    except signing.BadSignature:
        return None
    return PayoutAccount.objects.select_related("user").filter(pk=data.get("a")).first()


def payout_account_provider_link(*, account: PayoutAccount, return_url: str, refresh_url: str) -> str:
    """Create the Connect Express account if needed (key from our row), then an onboarding link."""
    if not account.provider_id:
        profile = getattr(account.user, "creator_profile", None)
        created = provider.connect_account_create(
            email=account.user.email, country=getattr(profile, "country", "US") or "US",
            metadata={"payout_account": str(account.pk), "user": str(account.user_id)},
            idempotency_key=account.idempotency_key)
        with transaction.atomic():
            locked = PayoutAccount.objects.select_for_update(no_key=True).get(pk=account.pk)
            if not locked.provider_id:
                locked.provider_id = created.id
                locked.changed_at = timezone.now()
                locked.save(update_fields=["provider_id", "changed_at"])
                audit_record(actor=None, action="payout_account.connected", obj=locked,
                             after={"provider_id": created.id})
            account = locked
    return provider.connect_account_link(account_id=account.provider_id, refresh_url=refresh_url,
                                         return_url=return_url)


def payout_account_apply(*, provider_account: provider.ProviderAccount, provider_time: int,
                         source: str) -> PayoutAccount | None:
    """Apply the provider's state of a connected account (from ``account.updated`` or a refresh).
    Safe in any order and any number of times: an older state than the one applied is ignored.
    Any change of where money goes restarts the cooling-off."""
    with transaction.atomic():
        account = PayoutAccount.objects.select_for_update(no_key=True).filter(provider_id=provider_account.id).first()
        if account is None:
            return None
        if provider_time < account.provider_updated:
            return account
        before = {"payouts_enabled": account.payouts_enabled, "details_submitted": account.details_submitted,
                  "external_account": account.external_account}
        after = {"payouts_enabled": provider_account.payouts_enabled,
                 "details_submitted": provider_account.details_submitted,
                 "external_account": provider_account.external_account}
        account.provider_updated = provider_time
        fields = ["provider_updated"]
        if before != after:
            account.payouts_enabled = provider_account.payouts_enabled
            account.details_submitted = provider_account.details_submitted
            account.external_account = provider_account.external_account
            account.changed_at = timezone.now()
            fields += ["payouts_enabled", "details_submitted", "external_account", "changed_at"]
            audit_record(actor=None, action="payout_account.updated", obj=account, before=before,
                         after=after, reason=source[:200])
        account.save(update_fields=fields)
    return account


def payout_account_refresh(*, account: PayoutAccount) -> PayoutAccount:
    """Ask the provider for the account's state (the onboarding return page does)."""
    if not account.provider_id:
        return account
    state = provider.connect_account_retrieve(account.provider_id)
    return payout_account_apply(provider_account=state, provider_time=int(timezone.now().timestamp()),
                                source="refresh") or account


def payout_account_set_auto(*, account: PayoutAccount, auto_withdraw: bool, actor: Any) -> PayoutAccount:
    with transaction.atomic():
        locked = PayoutAccount.objects.select_for_update(no_key=True).get(pk=account.pk)
        if locked.auto_withdraw != auto_withdraw:
            audit_record(actor=actor, action="payout_account.auto_withdraw", obj=locked,
                         before={"auto_withdraw": locked.auto_withdraw}, after={"auto_withdraw": auto_withdraw})
            locked.auto_withdraw = auto_withdraw
            locked.save(update_fields=["auto_withdraw"])
    return locked


def cooling_off_until(account: PayoutAccount, days: int | None = None) -> datetime:
    days = config.get(COOLING_OFF_DAYS) if days is None else days
    return account.changed_at + timedelta(days=days)


# --- withdrawals -------------------------------------------------------------------------------
def _locked_balances(accounts: list[Account]) -> dict[int, int]:
    ordered = lock_order(accounts)
    rows = (Account.objects.select_for_update(no_key=True).filter(pk__in=[a.pk for a in ordered])
            .order_by("lock_rank", "pk").values_list("pk", "balance"))
    return {pk: balance or 0 for pk, balance in rows}


def withdrawal_create(*, user: Any, amount: Money, auto_week: str = "") -> Withdrawal:
    minimum, daily_max, cooling = (config.get(MIN_WITHDRAWAL), config.get(DAILY_MAX),
                                   config.get(COOLING_OFF_DAYS))
    if amount.amount < minimum:
        raise ValidationError({"amount": [f"The smallest withdrawal is {Money(minimum, amount.currency)}."]})
    with transaction.atomic():
        account = PayoutAccount.objects.select_for_update(no_key=True).filter(user=user).first()
        if account is None or not account.provider_id:
            raise DomainError("Connect a payout account before withdrawing.")
        if not account.payouts_enabled:
            raise DomainError("Your payout account cannot receive payouts yet: finish onboarding.")
        now = timezone.now()
        until = cooling_off_until(account, cooling)
        if now < until:
            raise DomainError(f"Your payout account changed recently: withdrawals are possible again "
                              f"from {until:%Y-%m-%d %H:%M} UTC.")
        today = now.date()  # UTC (USE_TZ, TIME_ZONE UTC)
        used = (Withdrawal.objects.filter(user=user, currency=amount.currency, day=today)
                .exclude(status=Withdrawal.Status.FAILED).aggregate(total=Sum("amount"))["total"] or 0)
        if used + amount.amount > daily_max:
            raise LimitExceeded(f"At most {Money(daily_max, amount.currency)} a day can be withdrawn; "
                                f"{Money(max(0, daily_max - used), amount.currency)} is left today.")
        available = account_for(user, AccountKind.AVAILABLE, amount.currency)
        debt = account_for(user, AccountKind.DEBT, amount.currency)
        in_payout = account_for(user, AccountKind.IN_PAYOUT, amount.currency)
        balances = _locked_balances([available, debt, in_payout])
        owed, cash = -balances[debt.pk], balances[available.pk]
        netted = min(owed, cash)
        if cash - netted < amount.amount:
            raise InsufficientFunds(
                f"Only {Money(cash - netted, amount.currency)} is available to withdraw"
                + (f" after repaying {Money(netted, amount.currency)} of debt." if netted else "."))
        withdrawal = Withdrawal.objects.create(
            user=user, amount=amount.amount, currency=amount.currency, day=today, auto_week=auto_week,
            netted_debt=netted, min_amount=minimum, daily_max=daily_max, cooling_off_days=cooling)
        ref = f"withdrawal:{withdrawal.pk}"
        if netted:
            post(Posting(key=f"{ref}:netting", kind="debt_repayment", ref=ref,
                         legs=[Leg(available, -netted), Leg(debt, netted)],
                         memo="Debt repaid before a withdrawal"))
        post(Posting(key=f"{ref}:requested", kind="withdrawal", ref=ref,
                     legs=[Leg(available, -amount.amount), Leg(in_payout, amount.amount)],
                     memo="Withdrawal requested" + (" (automatic)" if auto_week else "")))
    return withdrawal


def withdrawals_auto(*, now: datetime | None = None) -> int:
    """Automatic weekly withdrawal of what is available, within the same limits (once per ISO
    week per currency: a unique constraint, so concurrent or repeated runs make one)."""
    now = now or timezone.now()
    year, week, _ = now.isocalendar()
    label = f"{year}-W{week:02d}"
    made = 0
    accounts = PayoutAccount.objects.filter(auto_withdraw=True, payouts_enabled=True).exclude(provider_id="")
    for account in accounts.iterator():
        rows = Account.objects.filter(owner_id=account.user_id, kind=AccountKind.AVAILABLE, balance__gt=0)
        for row in rows:
            if Withdrawal.objects.filter(user_id=account.user_id, currency=row.asset, auto_week=label).exists():
                continue
            debt = Account.objects.filter(owner_id=account.user_id, kind=AccountKind.DEBT,
                                          asset=row.asset).values_list("balance", flat=True).first() or 0
            used = (Withdrawal.objects.filter(user_id=account.user_id, currency=row.asset, day=now.date())
                    .exclude(status=Withdrawal.Status.FAILED).aggregate(t=Sum("amount"))["t"] or 0)
            amount = min((row.balance or 0) + debt, config.get(DAILY_MAX) - used)
            if amount < config.get(MIN_WITHDRAWAL):
                continue
            try:
                withdrawal_create(user=account.user, amount=Money(amount, row.asset), auto_week=label)
            except (DomainError, ValidationError, IntegrityError) as exc:
                log.info("No automatic withdrawal for user %s: %s", account.user_id, exc)
                continue
            made += 1
    return made
