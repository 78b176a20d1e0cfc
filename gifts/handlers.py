"""Ledger effects of coin purchases (registered with the payments core).

Every posting's key comes from the purchase (``coin-purchase:<id>:captured``, ``…:refund:<R>``
with R the total refunded so far, ``…:chargeback``, ``…:dispute_won``, ``…:dispute_won:refunds``),
so whatever runs twice, the ledger moves once. Integers only: cash in minor units, coins whole.

- success: USD provider inflow −price, processor fees +fee, coin sales +net; COIN coins issued −n,
  fan coins +n; an emailed receipt.
- velocity: a purchase that takes the fan past the hourly velocity settings is credited like any
  other, and the wallet is locked for staff review (nothing can be spent or bought until staff
  remove the lock), so a stolen card's burst cannot be turned into gifts before anyone looks.
- chargeback (dispute opened): the provider takes back what is not refunded yet plus its dispute
  fee; the coins not yet taken back by refunds are removed — from the wallet as far as it holds
  them (the fan's unspent coins), the rest (spent) booked to the platform's loss account in coins —
  and the fan's wallet is locked for staff review. Coin sales give back the net not yet given back;
  the loss account covers the rest (the kept processor fee and the dispute fee).
- dispute won: the provider returns the disputed amount; its dispute fee stays a loss (as for tips
  and escrow: ``tips/handlers.py``, ``marketplace/escrow.py``). Everything else the chargeback
  booked is reversed exactly: coin sales get their net back, the fee loss is undone, the coins it
  removed from the wallet go back to the wallet and the coins it booked as a loss come off the loss
  account (coins the fan spent meanwhile stay spent: no more than it removed is restored). The
  wallet lock's line the chargeback wrote is removed; the lock goes when no other cause (velocity,
  another chargeback, a note by staff) is left in it. A refund made while the chargeback stood is
  then applied to the coins as any refund is (``…:dispute_won:refunds``). Lost: nothing moves; the
  chargeback and its lock stay.
- refund (full or partial, any number of partial ones; staff or the provider's dashboard): the
  provider inflow gives back what was refunded now; coin sales give it back up to the net (the
  processor fee is given back last and is a platform loss: the provider keeps it); the refunded
  share of the coins, ceil(coins × refunded so far ÷ price) in total — rounded up, so the fan never
  keeps a coin whose price came back, and the parts add up to the whole pack at a full refund — is
  taken back: unspent coins from the wallet (never below zero: the database rule), the rest, already
  spent, booked to the platform's loss account in coins, as a chargeback does. No wallet lock: a
  refund is the platform's decision, not a fraud signal. While a chargeback stands (open or lost)
  it has taken every coin and the whole net already, so a refund then only books the cash it pays
  out as a loss (a won dispute reclassifies it, above).

What a purchase has given back so far is a function of its payment's state (refunded amount,
chargeback standing or not) and every handler posts the difference to the next state, so the
same events end in the same ledger in any order the payments core applies them.
"""

from __future__ import annotations

from creatornext.core import config
from creatornext.core.emails import email_queue
from creatornext.ledger.models import COIN, Account, AccountKind, Transaction
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
    from gifts.models import CoinPurchase

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
        _lock_wallet(purchase.fan, f"Velocity: {count} coin purchases ({Money(total, purchase.currency)}) "
                                   f"within an hour, the last {purchase.pk}. Check the history, then "
                                   f"delete this lock to release.")


def _lock_wallet(fan, line: str) -> None:
    """Lock the fan's coin wallet for staff review with ``line`` as (one line of) its reason. One
    lock per fan: a lock that already exists gets the line added, so it names every cause and a
    won dispute can take away its own cause only (``_release_wallet``)."""
    from gifts.models import WalletLock

    lock, created = WalletLock.objects.get_or_create(fan=fan, defaults={"reason": line})
    if created:
        return
    lock = WalletLock.objects.select_for_update(no_key=True).get(pk=lock.pk)
    if line not in lock.reason.split("\n"):
        lock.reason = f"{lock.reason}\n{line}" if lock.reason else line
        lock.save(update_fields=["reason"])


def _release_wallet(purchase, line: str) -> None:
    """Take the chargeback's ``line`` out of the fan's wallet lock; delete the lock when nothing
    else is left in it. A lock without the line (staff released the wallet and someone locked it
    again, or rewrote the reason) is left alone."""
    from creatornext.audit.services import audit_record
    from gifts.models import WalletLock

    lock = WalletLock.objects.select_for_update(no_key=True).filter(fan=purchase.fan).first()
    if lock is None:
        return
    lines = lock.reason.split("\n")
    if line not in lines:
        return
    lines.remove(line)
    before = {"reason": lock.reason}
    if any(rest.strip() for rest in lines):
        lock.reason = "\n".join(lines)
        lock.save(update_fields=["reason"])
        after: dict[str, str] | None = {"reason": lock.reason}
    else:
        lock.delete()
        after = None
    audit_record(actor=None, action="coin_purchase.dispute_won_wallet_lock", obj=purchase, before=before,
                 after=after, reason=f"Dispute on coin purchase {purchase.pk} won: its chargeback's lock "
                                     + ("line removed; other causes remain." if after else "released."))


def _chargeback_line(purchase, unspent: int, spent: int) -> str:
    return (f"Chargeback on coin purchase {purchase.pk}: {unspent} unspent coins removed, "
            f"{spent} already spent.")


def _net(payment: Payment) -> int:
    return payment.amount - (payment.fee or 0)


def _coins_out(purchase, payment: Payment, refunded: int, charged_back: bool) -> int:
    """The purchase's coins taken back in total in this state: all of them while a chargeback
    stands, else the refunded share rounded up (``refunded`` = the price: all of them)."""
    if charged_back:
        return purchase.coins
    return -((-purchase.coins * refunded) // payment.amount)


def _sales_out(payment: Payment, refunded: int, charged_back: bool) -> int:
    """The coin sales given back in total in this state: the whole net while a chargeback stands,
    else what was refunded, up to the net (the processor fee is given back last)."""
    return _net(payment) if charged_back else max(0, min(refunded, _net(payment)))


def _charged_back(payment: Payment) -> bool:
    """A chargeback stands: opened (the payments core sets ``dispute_id`` before the handler runs)
    and not won. An inquiry sets no ``dispute_id``."""
    return bool(payment.dispute_id) and payment.metadata.get("dispute_closed") != "won"


def _take_coins(purchase, coins: int) -> tuple[list[Leg], int, int]:
    """Legs that take ``coins`` of the purchase back: from the wallet as far as it holds them (its
    row locked: the balance cannot change under us), the rest booked as a loss. (legs, unspent, spent)."""
    if coins <= 0:
        return [], 0, 0
    wallet = account_for(purchase.fan, AccountKind.COINS, COIN)
    balance = Account.objects.select_for_update(no_key=True).get(pk=wallet.pk).balance or 0
    unspent = min(balance, coins)
    spent = coins - unspent
    legs = []
    if unspent:
        legs += [Leg(wallet, -unspent), Leg(platform_account(AccountKind.COINS_ISSUED, COIN), unspent)]
    if spent:
        legs += [Leg(platform_account(AccountKind.LOSSES, COIN), -spent),
                 Leg(platform_account(AccountKind.COINS_ISSUED, COIN), spent)]
    return legs, unspent, spent


def _cash_legs(payment: Payment, *, out: int, sales: int) -> list[Leg]:
    """``out`` leaves through the provider (negative: comes back); coin sales give back ``sales``
    (negative: get it back); the loss account balances. Zero legs are left out."""
    cur = payment.currency
    legs = [Leg(platform_account(AccountKind.PROVIDER_INFLOW, cur), out),
            Leg(platform_account(AccountKind.COIN_SALES, cur), -sales),
            Leg(platform_account(AccountKind.LOSSES, cur), sales - out)]
    return [leg for leg in legs if leg.amount]


def _post_if_any(*, purchase, key: str, kind: str, legs: list[Leg], metadata: dict, memo: str = "") -> None:
    if legs:
        post(Posting(key=key, kind=kind, legs=legs, ref=f"coin-purchase:{purchase.pk}", memo=memo,
                     metadata=metadata))


def on_refunded(payment: Payment, amount: int) -> None:
    """``amount`` refunded now; ``payment.refunded_amount`` already counts it."""
    purchase = _purchase(payment)
    after, standing = payment.refunded_amount, _charged_back(payment)
    before = after - amount
    coins = (_coins_out(purchase, payment, after, standing) - _coins_out(purchase, payment, before, standing))
    sales = _sales_out(payment, after, standing) - _sales_out(payment, before, standing)
    coin_legs, unspent, spent = _take_coins(purchase, coins)
    _post_if_any(purchase=purchase, key=f"coin-purchase:{purchase.pk}:refund:{after}", kind="coin_refund",
                 legs=_cash_legs(payment, out=amount, sales=sales) + coin_legs,
                 memo=f"Refund {Money(amount, payment.currency)}: {coins:,} coins taken back",
                 metadata={"refunded": after, "amount": amount, "unspent": unspent, "spent": spent})


def on_dispute_created(payment: Payment) -> None:
    # The provider takes back what is not refunded yet plus its dispute fee; what was disputed is
    # kept, so a refund while the dispute is open does not change what winning it brings back.
    purchase = _purchase(payment)
    refunded = payment.refunded_amount
    disputed = payment.amount - refunded
    coins = purchase.coins - _coins_out(purchase, payment, refunded, False)
    sales = _net(payment) - _sales_out(payment, refunded, False)
    coin_legs, unspent, spent = _take_coins(purchase, coins)
    _post_if_any(purchase=purchase, key=f"coin-purchase:{purchase.pk}:chargeback", kind="coin_chargeback",
                 legs=_cash_legs(payment, out=disputed + config.get(DISPUTE_FEE), sales=sales) + coin_legs,
                 metadata={"unspent": unspent, "spent": spent, "disputed": disputed})
    _lock_wallet(purchase.fan, _chargeback_line(purchase, unspent, spent))


def on_dispute_closed(payment: Payment, won: bool) -> None:
    """Won: reverse the chargeback but for the dispute fee, then apply any refund made meanwhile."""
    if not won:
        return
    purchase = _purchase(payment)
    chargeback = Transaction.objects.filter(key=f"coin-purchase:{purchase.pk}:chargeback").first()
    if chargeback is None:
        return
    facts = chargeback.metadata
    unspent, spent = int(facts["unspent"]), int(facts["spent"])
    disputed = int(facts.get("disputed", payment.amount))  # before "disputed" was kept: never refunded
    refunded_then = payment.amount - disputed
    sales = _net(payment) - _sales_out(payment, refunded_then, False)
    coin_legs = []
    if unspent:
        coin_legs += [Leg(account_for(purchase.fan, AccountKind.COINS, COIN), unspent),
                      Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -unspent)]
    if spent:
        coin_legs += [Leg(platform_account(AccountKind.LOSSES, COIN), spent),
                      Leg(platform_account(AccountKind.COINS_ISSUED, COIN), -spent)]
    _post_if_any(purchase=purchase, key=f"coin-purchase:{purchase.pk}:dispute_won", kind="coin_dispute_won",
                 legs=_cash_legs(payment, out=-disputed, sales=-sales) + coin_legs,
                 memo=f"Dispute won: {unspent:,} coins back",
                 metadata={"disputed": disputed, "restored": unspent, "loss_reversed": spent})
    # Refunds made while the chargeback stood took nothing from the coins or the sales: now they do.
    refunded = payment.refunded_amount
    coins = (_coins_out(purchase, payment, refunded, False) - _coins_out(purchase, payment, refunded_then, False))
    sales = _sales_out(payment, refunded, False) - _sales_out(payment, refunded_then, False)
    coin_legs, taken, lost = _take_coins(purchase, coins)
    _post_if_any(purchase=purchase, key=f"coin-purchase:{purchase.pk}:dispute_won:refunds", kind="coin_refund",
                 legs=_cash_legs(payment, out=0, sales=sales) + coin_legs,
                 memo=f"Refunds during the dispute: {coins:,} coins taken back",
                 metadata={"refunded": refunded, "amount": 0, "unspent": taken, "spent": lost})
    _release_wallet(purchase, _chargeback_line(purchase, unspent, spent))


def register() -> None:
    register_purpose("coin_purchase", PurposeHandlers(on_succeeded=on_succeeded, on_refunded=on_refunded,
                                                      on_dispute_created=on_dispute_created,
                                                      on_dispute_closed=on_dispute_closed))
