from django.apps import AppConfig


class EligibilityConfig(AppConfig):
    """Programs, their rules as data, the metrics feed, evaluation and enrolment (PRODUCT.md §1)."""

    name = "eligibility"
    label = "eligibility"
    verbose_name = "Eligibility"
