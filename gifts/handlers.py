"""Ledger effects of coin purchases (registered with the payments core).

- success: USD provider inflow −price, processor fees +fee, coin sales +net; COIN coins issued −n,
  fan coins +n; an emailed receipt.
- velocity: a purchase that takes the fan past the hourly velocity settings is credited like any
  other, and the wallet is locked for staff review (nothing can be spent or bought until staff
  remove the lock), so a stolen card's burst cannot be turned into gifts before anyone looks.
- chargeback (dispute opened): the provider takes the price back plus its dispute fee; the unspent
  coins are removed, the spent part is booked to the platform's loss account (in coins), and the
  fan's wallet is locked for staff review.
"""

from __future__ import annotations

from creatornext.core import config
from creatornext.core.emails import email_queue
from creatornext.ledger.models import COIN, Account, AccountKind
from creatornext.ledger.services import Leg, Posting, account_for, platform_account, post
from creatornext.money import Money
from creatornext.payments.config import DISPUTE_FEE
from creatornext.payments.models import Payment
from creatornext.payments.services import PurposeHandlers, register_purpose


def _purchase(payment: Payment):
    from gifts.models import CoinPurchase

    return CoinPurchase.objects.select_related("fan").get(pk=payment.metadata["coin_purchase_id"])


def on_succeeded(payment: Payment) -> None:
    purchase = _purchase(payment)
    fee = payment.fee or 0
    usd = [Leg(platform_account(AccountKind.PROVIDER_INFLOW, payment.currency), -payment.amount),
           Leg(platform_account(AccountKind.COIN_SALES, payment.currency), payment.amount - fee)]
    if fee:
        usd.append(Leg(platform_account(AccountKind.PROCESSOR_FEES, payment.currency), fee))
    coins = [Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -purchase.coins),
             Leg(account_for(purchase.fan, AccountKind.COINS, COIN), purchase.coins)]
    post(Posting(key=f"coin-purchase:{purchase.pk}:captured", kind="coin_purchase", legs=usd + coins,
                 ref=f"coin-purchase:{purchase.pk}", memo=f"{purchase.coins:,} coins"))
    email_queue(to=[purchase.fan.email], template="coin_receipt", context={
        "username": purchase.fan.username, "coins": purchase.coins,
        "price": Money(purchase.price, purchase.currency).format(), "purchase_id": purchase.pk})
    _velocity_check(purchase)


def _velocity_check(purchase) -> None:
    from datetime import timedelta

    from django.db.models import Count, Q, Sum

    from creatornext.payments.models import PaymentStatus
    from gifts.config import VELOCITY_AMOUNT_PER_HOUR, VELOCITY_PURCHASES_PER_HOUR
    from gifts.models import CoinPurchase, WalletLock

    # Paid coin purchases of the hour up to this one (refunded and disputed ones too: they were
    # bought in the burst), this one by its id: on the confirmation path its row does not point at
    # its payment yet. The hour ends at the purchase, not at the credit, as for tips
    # (tips/velocity.py): a late success is judged by the burst it belonged to. One range read of
    # the (fan, created_at) index.
    paid = [PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED, PaymentStatus.DISPUTED]
    recent = CoinPurchase.objects.filter(
        Q(payment__status__in=paid) | Q(pk=purchase.pk), fan_id=purchase.fan_id, currency=purchase.currency,
        created_at__gte=purchase.created_at - timedelta(hours=1), created_at__lte=purchase.created_at,
    ).aggregate(n=Count("pk"), total=Sum("price"))
    count, total = recent["n"], recent["total"] or 0
    if count > config.get(VELOCITY_PURCHASES_PER_HOUR) or total > config.get(VELOCITY_AMOUNT_PER_HOUR):
        WalletLock.objects.get_or_create(fan=purchase.fan, defaults={
            "reason": f"Velocity: {count} coin purchases ({Money(total, purchase.currency)}) within an "
                      f"hour, the last {purchase.pk}. Check the history, then delete this lock to release."})


def on_dispute_created(payment: Payment) -> None:
    from gifts.models import WalletLock

    purchase = _purchase(payment)
    wallet = account_for(purchase.fan, AccountKind.COINS, COIN)
    balance = Account.objects.select_for_update(no_key=True).get(pk=wallet.pk).balance or 0
    unspent = min(balance, purchase.coins)
    spent = purchase.coins - unspent
    fee, dispute_fee = payment.fee or 0, config.get(DISPUTE_FEE)
    cur = payment.currency
    legs = [Leg(platform_account(AccountKind.PROVIDER_INFLOW, cur), payment.amount + dispute_fee),
            Leg(platform_account(AccountKind.COIN_SALES, cur), -(payment.amount - fee)),
            Leg(platform_account(AccountKind.LOSSES, cur), -(fee + dispute_fee))]
    if unspent:
        legs += [Leg(wallet, -unspent), Leg(platform_account(AccountKind.COINS_ISSUED, COIN), unspent)]
    if spent:
        legs += [Leg(platform_account(AccountKind.LOSSES, COIN), -spent),
                 Leg(platform_account(AccountKind.COINS_ISSUED, COIN), spent)]
    post(Posting(key=f"coin-purchase:{purchase.pk}:chargeback", kind="coin_chargeback", legs=legs,
                 ref=f"coin-purchase:{purchase.pk}", metadata={"unspent": unspent, "spent": spent}))
    WalletLock.objects.get_or_create(fan=purchase.fan, defaults={
        "reason": f"Chargeback on coin purchase {purchase.pk}: {unspent} unspent coins removed, "
                  f"{spent} already spent."})


def register() -> None:
    register_purpose("coin_purchase", PurposeHandlers(on_succeeded=on_succeeded,
                                                      on_dispute_created=on_dispute_created))
