"""The payments boundary's staff-editable numbers."""

from creatornext.core import config

DISPUTE_FEE = config.register("payments.dispute_fee", 1500,
                              "What the provider charges the platform per dispute (minor units).",
                              minimum=0)
