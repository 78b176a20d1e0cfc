"""The marketplace's staff-editable numbers (PRODUCT.md §4).

The gate itself (10,000 followers, KR 50,000) is not here: it is the ``marketplace`` program's rules
in ``eligibility/``, which decide who may have a marketplace profile and appear in search.
"""

from creatornext.core import config

SEARCH_PAGE_SIZE = config.register("marketplace.search_page_size", 20,
                                   "Creators per page of marketplace search.", minimum=1, maximum=100)
SHORTLIST_MAX_CREATORS = config.register("marketplace.shortlist_max_creators", 500,
                                         "Most creators one shortlist may hold.", minimum=1)
SHORTLISTS_PER_BRAND = config.register("marketplace.shortlists_per_brand", 200,
                                       "Most shortlists one brand may keep.", minimum=1)

# --- campaigns, invitations, collaborations (PRODUCT.md §4) ------------------------------------
INVITATION_DAYS = config.register("marketplace.invitation_days", 7,
                                  "Days an invitation (or a counter-offer) stays open.", minimum=1)
FUNDING_DAYS = config.register("marketplace.funding_days", 7,
                               "Days a brand has to fund an accepted collaboration before it is cancelled.",
                               minimum=1)
AUTO_APPROVE_DAYS = config.register("marketplace.auto_approve_days", 7,
                                    "Days after a submission the brand left unanswered until it is approved.",
                                    minimum=1)
MAX_REVISIONS = config.register("marketplace.max_revisions", 2,
                                "Revisions a brand may ask for before it must approve or escalate.",
                                minimum=0, maximum=10)
PLATFORM_FEE_BPS = config.register("marketplace.platform_fee_bps", 0,
                                   "Platform fee on a released collaboration fee (basis points).",
                                   minimum=0, maximum=5000)
PROCESSOR_FEE_BPS = config.register("marketplace.processor_fee_bps", 290,
                                    "Estimated card processor fee the brand pays on top: the percentage "
                                    "part (basis points).", minimum=0, maximum=2000)
PROCESSOR_FEE_FIXED = config.register("marketplace.processor_fee_fixed", 30,
                                      "Estimated card processor fee the brand pays on top: the fixed part "
                                      "(minor units).", minimum=0)
MIN_FEE = config.register("marketplace.min_fee", 1_000, "Smallest collaboration fee (minor units).", minimum=1)
MAX_FEE = config.register("marketplace.max_fee", 10_000_000, "Largest collaboration fee (minor units).",
                          minimum=1)
