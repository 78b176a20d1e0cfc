"""The ledger's staff-editable numbers."""

from creatornext.core import config

HOLD_DAYS = config.register(
    "ledger.hold_days", 7,
    "Days that incoming cash (tips, redemptions, escrow releases) stays pending before it becomes "
    "available (stolen-card protection).", minimum=0, maximum=90)
