"""Money.parse refuses any amount a person can type with a MoneyError (a message for the field),
never a plain ValueError — Python's int() has a 4,300-digit limit of its own."""

import pytest

from creatornext.money import MAX_MINOR_UNITS, Money, MoneyError


@pytest.mark.parametrize(("text", "currency"), [
    *[(text, currency) for currency in ("USD", "JPY")
      for text in ("9" * 5000, "-" + "9" * 5000, ",".join(["999"] * 2000), "9" * 4301, "1" + "0" * 4999)],
    ("9" * 5000 + ".99", "USD"), ("$" + "1" * 5000, "USD"), ("¥" + "1" * 5000, "JPY"),
])
def test_an_amount_of_thousands_of_digits_is_a_money_error(text, currency):
    with pytest.raises(MoneyError, match=r"^That amount is too large\.$"):
        Money.parse(text, currency)


def test_the_largest_amount_parses_and_one_minor_unit_more_is_too_large():
    assert Money.parse("92233720368547758.07", "USD") == Money(MAX_MINOR_UNITS, "USD")
    assert Money.parse("-92,233,720,368,547,758.07", "USD") == Money(-MAX_MINOR_UNITS, "USD")
    assert Money.parse(str(MAX_MINOR_UNITS), "JPY") == Money(MAX_MINOR_UNITS, "JPY")
    for text, currency in (("92233720368547758.08", "USD"), (str(MAX_MINOR_UNITS + 1), "JPY"),
                           ("100000000000000000000", "USD")):
        with pytest.raises(MoneyError, match=r"^That amount is too large\.$"):
            Money.parse(text, currency)


def test_leading_zeros_and_trailing_decimal_zeros_do_not_count_as_digits():
    assert Money.parse("0" * 5000 + "12.34", "USD") == Money(1234, "USD")
    assert Money.parse("12." + "0" * 5000, "USD") == Money(1200, "USD")
    assert Money.parse("0" * 5000, "JPY") == Money(0, "JPY")


def test_a_long_text_that_is_no_number_is_not_repeated_in_the_message():
    with pytest.raises(MoneyError, match=r"^That is not an amount of money\.$"):
        Money.parse("x" * 5000, "USD")
    with pytest.raises(MoneyError, match=r"^'abc' is not an amount of money\.$"):
        Money.parse("abc", "USD")
