"""The payments boundary's staff-editable numbers."""

from creatornext.core import config

DISPUTE_FEE = config.register("payments.dispute_fee", 1500,
                              "What the provider charges the platform per dispute (minor units).",
                              minimum=0)
UNRECORDED_REFUND_AFTER = config.register(
    "payments.unrecorded_refund_after_minutes", 30,
    "Minutes after which a charge the provider made for one of our payment ids, with no payment row "
    "of ours (the request that created it rolled back after the charge), is refunded in full.",
    minimum=5)
