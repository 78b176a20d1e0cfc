"""Coins, gifts and diamonds: staff-editable numbers (PRODUCT.md §3). Money in USD minor units.

Rates are exact rationals (numerator / denominator). Diamond fractions are kept in micro-diamonds,
so a rate's denominator must divide 1,000,000 (0.85 → 85/100 is fine; 1/3 is not).
"""

from creatornext.core import config

MICRO = 1_000_000

DIAMONDS_PER_COIN_NUM = config.register("gifts.diamonds_per_coin_num", 1,
                                        "Coins → diamonds rate: numerator.", minimum=0)
DIAMONDS_PER_COIN_DEN = config.register("gifts.diamonds_per_coin_den", 1,
                                        "Coins → diamonds rate: denominator (must divide 1,000,000).",
                                        minimum=1, maximum=MICRO)
# The list value of a coin (web price): 0.74 USD per 70 coins.
COIN_LIST_PRICE_NUM = config.register("gifts.coin_list_price_num", 74,
                                      "Reference coin price: cents per COIN_LIST_PRICE_DEN coins.", minimum=1)
COIN_LIST_PRICE_DEN = config.register("gifts.coin_list_price_den", 70,
                                      "Reference coin price: number of coins.", minimum=1)
# Redemption: 1 diamond = 0.005 USD = 1/2 cent.
REDEEM_CENTS_NUM = config.register("gifts.redeem_cents_per_diamond_num", 1,
                                   "Redemption rate: cents per diamond, numerator.", minimum=0)
REDEEM_CENTS_DEN = config.register("gifts.redeem_cents_per_diamond_den", 2,
                                   "Redemption rate: cents per diamond, denominator.", minimum=1)
PURCHASE_DAILY_TOTAL = config.register("gifts.purchase_daily_total", 50_000,
                                       "Most a fan may spend on coins per UTC day (minor units).", minimum=0)
MIN_AGE = config.register("gifts.min_age", 18, "Minimum age to buy coins and send gifts.",
                          minimum=13, maximum=25)
MAX_QUANTITY = 99
REDEEM_MIN = config.register("gifts.redeem_min", 1_000, "Smallest redemption (minor units).", minimum=1)
REDEEM_DAILY_MAX = config.register("gifts.redeem_daily_max", 100_000,
                                   "Most a creator may redeem per UTC day (minor units).", minimum=0)
# Velocity (PRODUCT.md §7): a purchase past either number in the last hour is accepted (the fan has
# paid) but locks the coin wallet for staff review (gifts/handlers.py, WalletLock).
VELOCITY_PURCHASES_PER_HOUR = config.register(
    "gifts.velocity_purchases_per_hour", 10,
    "Coin purchases by one fan within an hour before the wallet is held for review.", minimum=1)
VELOCITY_AMOUNT_PER_HOUR = config.register(
    "gifts.velocity_amount_per_hour", 30_000,
    "Coin purchases by one fan within an hour (minor units) before the wallet is held for review.",
    minimum=1)
REDEEM_REVIEW_THRESHOLD = config.register(
    "gifts.redeem_review_threshold", 50_000,
    "When a day's redemptions (this one included) pass this, staff review it (minor units).", minimum=0)
