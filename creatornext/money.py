"""Money: an integer number of minor units in one ISO 4217 currency.

Rules (ARCHITECTURE.md, money): no floats anywhere; amounts are whole minor units (cents; yen for
zero-decimal currencies); two currencies never mix. Why not py-moneyed / django-money: see
docs/decisions/0003-money-type.md.

    >>> Money(1234, "USD").format()
    '$12.34'
    >>> Money.parse("12.34", "USD")
    Money(amount=1234, currency='USD')
    >>> Money(500, "JPY").format()
    '¥500'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# Largest amount a PostgreSQL bigint holds; anything beyond is refused, not wrapped.
MAX_MINOR_UNITS = 2**63 - 1
# A typed amount with more whole digits than that can never be money: refused before int() (whose
# own limit, 4,300 digits, would raise a plain ValueError and bring a page down).
_MAX_DIGITS = len(str(MAX_MINOR_UNITS))
TOO_LARGE = "That amount is too large."


@dataclass(frozen=True)
class Currency:
    code: str
    exponent: int  # digits after the decimal point: 2 for USD, 0 for JPY
    symbol: str


CURRENCIES: dict[str, Currency] = {
    c.code: c
    for c in (
        Currency("USD", 2, "$"),
        Currency("EUR", 2, "€"),
        Currency("GBP", 2, "£"),
        Currency("CAD", 2, "CA$"),
        Currency("AUD", 2, "A$"),
        Currency("JPY", 0, "¥"),
        Currency("KRW", 0, "₩"),
    )
}


class MoneyError(ValueError):
    """An amount or currency that cannot be money (a float, a fraction of a cent, ...)."""


class CurrencyMismatch(MoneyError, TypeError):
    """Two currencies met in one operation."""


def get_currency(code: Any) -> Currency:
    if not isinstance(code, str) or code not in CURRENCIES:
        raise MoneyError(f"Unsupported currency {code!r}; use one of {', '.join(sorted(CURRENCIES))}.")
    return CURRENCIES[code]


def _check_minor(amount: Any) -> int:
    # bool is an int subclass; True dollars is a bug, not money.
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise MoneyError(f"Money amounts are whole minor units (int), not {type(amount).__name__}.")
    if not -MAX_MINOR_UNITS <= amount <= MAX_MINOR_UNITS:
        raise MoneyError("Amount out of range.")
    return amount


@dataclass(frozen=True, order=False)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        _check_minor(self.amount)
        get_currency(self.currency)

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str, currency: str) -> Money:
        """Parse a person's decimal input ("12.5", "1,000.00", "500" for JPY) exactly.

        Refuses floats, more decimals than the currency has, anything that is not a number, and
        amounts beyond ``MAX_MINOR_UNITS`` — always with a ``MoneyError`` a person can read.
        """
        cur = get_currency(currency)
        if not isinstance(text, str):
            raise MoneyError("Enter the amount as text, e.g. 12.34.")
        cleaned = text.strip().replace(",", "").replace("_", "")
        negative = cleaned.startswith("-")
        cleaned = cleaned.removeprefix("-").removeprefix(cur.symbol).strip()
        match = re.fullmatch(r"(\d+)(?:\.(\d*))?", cleaned)
        if not match:
            shown = repr(text) if len(text) <= 40 else "That"
            raise MoneyError(f"{shown} is not an amount of money.")
        whole, frac = match.group(1).lstrip("0") or "0", match.group(2) or ""
        frac = frac.rstrip("0") if len(frac) > cur.exponent else frac
        if len(frac) > cur.exponent:
            if cur.exponent == 0:
                raise MoneyError(f"{cur.code} has no minor unit: enter a whole number.")
            raise MoneyError(f"{cur.code} amounts have at most {cur.exponent} decimals.")
        if len(whole) > _MAX_DIGITS:
            raise MoneyError(TOO_LARGE)
        minor = int(whole) * 10**cur.exponent + (int(frac.ljust(cur.exponent, "0")) if cur.exponent else 0)
        if minor > MAX_MINOR_UNITS:
            raise MoneyError(TOO_LARGE)
        return cls(-minor if negative else minor, cur.code)

    @classmethod
    def from_api(cls, data: Any) -> Money:
        """``{"amount": <int minor units>, "currency": "USD"}`` → Money; strict about types."""
        if not isinstance(data, dict) or set(data) != {"amount", "currency"}:
            raise MoneyError('Money is an object {"amount": <integer minor units>, "currency": "USD"}.')
        return cls(_check_minor(data["amount"]), data["currency"])

    # --- output ---------------------------------------------------------------------------------
    def to_api(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}

    def to_decimal(self) -> Decimal:
        """Exact decimal value in major units (for display and CSV only, never for arithmetic)."""
        return Decimal(self.amount).scaleb(-get_currency(self.currency).exponent)

    def format(self) -> str:
        cur = get_currency(self.currency)
        value = abs(self.amount)
        if cur.exponent:
            whole, frac = divmod(value, 10**cur.exponent)
            text = f"{whole:,}.{frac:0{cur.exponent}d}"
        else:
            text = f"{value:,}"
        return f"{'-' if self.amount < 0 else ''}{cur.symbol}{text}"

    def __str__(self) -> str:
        return self.format()

    # --- arithmetic -----------------------------------------------------------------------------
    def _same(self, other: Any) -> Money:
        if not isinstance(other, Money):
            raise MoneyError(f"Cannot combine Money with {type(other).__name__}.")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"Cannot combine {self.currency} with {other.currency}.")
        return other

    def __add__(self, other: Money) -> Money:
        return Money(self.amount + self._same(other).amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money(self.amount - self._same(other).amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        return Money(self.amount * _check_minor(factor), self.currency)

    __rmul__ = __mul__

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.amount < self._same(other).amount

    def __le__(self, other: Money) -> bool:
        return self.amount <= self._same(other).amount

    def __gt__(self, other: Money) -> bool:
        return self.amount > self._same(other).amount

    def __ge__(self, other: Money) -> bool:
        return self.amount >= self._same(other).amount

    def __bool__(self) -> bool:
        return self.amount != 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0
