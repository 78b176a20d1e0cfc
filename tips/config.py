"""The tips program's staff-editable numbers (PRODUCT.md §2). Money in USD minor units."""

from creatornext.core import config

MIN_AMOUNT = config.register("tips.min_amount", 100, "Smallest tip (minor units).", minimum=1)
MAX_AMOUNT = config.register("tips.max_amount", 10_000, "Largest tip (minor units).", minimum=1)
DAILY_TOTAL = config.register("tips.daily_total", 50_000,
                              "Most a fan may tip in a rolling 24 hours (minor units).", minimum=0)
DAILY_COUNT = config.register("tips.daily_count", 100, "Most tips a fan may send in a rolling 24 hours.",
                              minimum=0)
MIN_AGE = config.register("tips.min_age", 18, "Minimum age to send a tip.", minimum=13, maximum=25)
# Velocity (PRODUCT.md §7): a tip past either number in the last hour is accepted, but the creator's
# credit stays pending until staff release it (tips/velocity.py).
VELOCITY_COUNT = config.register("tips.velocity_tips_per_hour", 20,
                                 "Tips by one fan within an hour before the next is held for review.", minimum=1)
VELOCITY_AMOUNT = config.register(
    "tips.velocity_amount_per_hour", 30_000,
    "Tips by one fan within an hour (minor units) before the next is held for review.", minimum=1)
MESSAGE_MAX = 150  # characters; part of the API contract, not a setting
PRESETS = (500, 1000, 1500)  # the form's preset buttons, minor units
