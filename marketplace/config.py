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
