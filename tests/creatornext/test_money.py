from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from creatornext.core.api import MoneyField
from creatornext.money import MAX_MINOR_UNITS, CurrencyMismatch, Money, MoneyError


def test_amounts_are_integer_minor_units():
    assert Money(1234, "USD").amount == 1234
    for bad in (12.34, 12.0, Decimal("12"), "12", True, None):
        with pytest.raises(MoneyError):
            Money(bad, "USD")


def test_unknown_currency_is_refused():
    with pytest.raises(MoneyError, match="Unsupported currency"):
        Money(100, "XXX")
    with pytest.raises(MoneyError):
        Money(100, "usd")


def test_currencies_never_mix():
    usd, eur = Money(100, "USD"), Money(100, "EUR")
    for op in (lambda: usd + eur, lambda: usd - eur, lambda: usd < eur, lambda: usd >= eur):
        with pytest.raises(CurrencyMismatch):
            op()
    with pytest.raises(MoneyError):
        usd + 1
    assert usd != eur


def test_arithmetic_within_one_currency():
    assert Money(150, "USD") + Money(250, "USD") == Money(400, "USD")
    assert Money(150, "USD") - Money(250, "USD") == Money(-100, "USD")
    assert Money(150, "USD") * 3 == Money(450, "USD") == 3 * Money(150, "USD")
    assert -Money(5, "USD") == Money(-5, "USD")
    assert Money(1, "USD") < Money(2, "USD")
    with pytest.raises(MoneyError):
        Money(150, "USD") * 1.5


def test_range_is_a_postgres_bigint():
    Money(MAX_MINOR_UNITS, "USD")
    with pytest.raises(MoneyError, match="range"):
        Money(MAX_MINOR_UNITS + 1, "USD")
    with pytest.raises(MoneyError, match="range"):
        Money(MAX_MINOR_UNITS, "USD") + Money(1, "USD")


def test_zero_decimal_jpy():
    assert Money(500, "JPY").format() == "¥500"
    assert Money.parse("500", "JPY") == Money(500, "JPY")
    assert Money.parse("1,500", "JPY") == Money(1500, "JPY")
    assert Money.parse("500.0", "JPY") == Money(500, "JPY")
    with pytest.raises(MoneyError, match="no minor unit"):
        Money.parse("500.5", "JPY")
    assert Money(500, "JPY").to_decimal() == Decimal("500")


def test_parse_is_exact_and_strict():
    assert Money.parse("12.34", "USD") == Money(1234, "USD")
    assert Money.parse("12.5", "USD") == Money(1250, "USD")
    assert Money.parse("12", "USD") == Money(1200, "USD")
    assert Money.parse("$1,000.00", "USD") == Money(100000, "USD")
    assert Money.parse("0.10", "EUR") == Money(10, "EUR")
    assert Money.parse("12.340", "USD") == Money(1234, "USD")
    for bad in ("12.345", "abc", "", "1e3", "12.3.4", "--1", "NaN", "inf"):
        with pytest.raises(MoneyError):
            Money.parse(bad, "USD")
    with pytest.raises(MoneyError):
        Money.parse(12.34, "USD")  # type: ignore[arg-type]


def test_formatting():
    assert Money(1234, "USD").format() == "$12.34"
    assert Money(5, "USD").format() == "$0.05"
    assert Money(123456789, "USD").format() == "$1,234,567.89"
    assert Money(-1999, "EUR").format() == "-€19.99"
    assert Money(100, "GBP").format() == "£1.00"
    assert str(Money(0, "USD")) == "$0.00"
    assert Money(1234, "USD").to_decimal() == Decimal("12.34")


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["USD", "EUR", "JPY"]))
def test_format_then_parse_round_trips(amount, currency):
    money = Money(amount, currency)
    assert Money.parse(money.format(), currency) == money


def test_api_shape_is_strict():
    assert Money.from_api({"amount": 500, "currency": "JPY"}) == Money(500, "JPY")
    assert Money(1234, "USD").to_api() == {"amount": 1234, "currency": "USD"}
    for bad in ({"amount": 12.5, "currency": "USD"}, {"amount": "1250", "currency": "USD"},
                {"amount": 1250}, {"amount": 1250, "currency": "USD", "extra": 1},
                {"amount": True, "currency": "USD"}, {"amount": 2**63, "currency": "USD"}, 1250, None):
        with pytest.raises(MoneyError):
            Money.from_api(bad)


def test_money_serializer_field_gives_clear_errors():
    from rest_framework import serializers

    class S(serializers.Serializer):
        amount = MoneyField()

    s = S(data={"amount": {"amount": 10.5, "currency": "USD"}})
    assert not s.is_valid()
    assert "not float" in str(s.errors["amount"][0])
    s = S(data={"amount": {"amount": 1050, "currency": "USD"}})
    assert s.is_valid(), s.errors
    assert s.validated_data["amount"] == Money(1050, "USD")


def test_strict_input_refuses_coercion():
    from rest_framework import serializers

    from creatornext.core.api import StrictInputSerializer

    class S(StrictInputSerializer):
        name = serializers.CharField()
        quantity = serializers.IntegerField()
        anonymous = serializers.BooleanField(required=False)

    s = S(data={"name": 0, "quantity": "5", "anonymous": "yes"})
    assert not s.is_valid()
    assert s.errors == {"name": ["Must be a string."], "quantity": ["Must be a whole number."],
                        "anonymous": ["Must be true or false."]}
    for bad_quantity in (5.0, True):
        assert not S(data={"name": "x", "quantity": bad_quantity}).is_valid()
    ok = S(data={"name": "x", "quantity": 5, "anonymous": False})
    assert ok.is_valid(), ok.errors


def test_strict_input_checks_lengths_on_what_was_sent():
    from rest_framework import serializers

    from creatornext.core.api import StrictInputSerializer

    class S(StrictInputSerializer):
        name = serializers.CharField(max_length=5)

    assert not S(data={"name": "\x1cabcde"}).is_valid()  # 6 characters sent
    assert S(data={"name": "abcde"}).is_valid()
