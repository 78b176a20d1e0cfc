"""Staff: marketplace profiles, shortlists, and brand verification (an action on the Brand admin)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from creatornext.accounts.admin import BrandAdmin
from creatornext.accounts.models import Brand, User
from creatornext.core.admin import DECIDE, AwaitingSecondApproval, ReadOnlyAdmin, StaffDecisions, confirm_with_reason
from marketplace import services
from marketplace.models import MarketplaceProfile, Shortlist, ShortlistEntry


class VerifiableBrandAdmin(StaffDecisions, BrandAdmin):
    """The accounts Brand admin, plus verification: audited, and the owners get an email."""

    actions = ["verify", "unverify"]

    @admin.action(description="Verify the selected brands (they may then contact creators)",
                  permissions=DECIDE)
    def verify(self, request: HttpRequest, queryset: QuerySet[Brand]) -> None:
        assert isinstance(request.user, User)
        done = 0
        for brand in queryset.filter(verified_at__isnull=True):
            services.brand_verify(brand=brand, actor=request.user, reason="admin action")
            done += 1
        self.message_user(request, f"{done} brand(s) verified.", messages.SUCCESS)

    @admin.action(description="Withdraw verification of the selected brands", permissions=DECIDE)
    def unverify(self, request: HttpRequest, queryset: QuerySet[Brand]) -> None:
        assert isinstance(request.user, User)
        done = 0
        for brand in queryset.filter(verified_at__isnull=False):
            services.brand_unverify(brand=brand, actor=request.user, reason="admin action")
            done += 1
        self.message_user(request, f"{done} brand(s) no longer verified.", messages.SUCCESS)


admin.site.unregister(Brand)
admin.site.register(Brand, VerifiableBrandAdmin)


@admin.register(MarketplaceProfile)
class MarketplaceProfileAdmin(admin.ModelAdmin):
    list_display = ("handle", "country", "followers", "avg_views", "engagement_rate_bps",
                    "metrics_updated_at")
    list_filter = ("country",)
    search_fields = ("handle",)
    raw_id_fields = ("creator",)
    show_full_result_count = False  # a million rows: no COUNT(*) on every page
    # Writes go through the services (the editor and the metrics feed), which audit them.
    readonly_fields = [f.name for f in MarketplaceProfile._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ShortlistEntryInline(admin.TabularInline):
    model = ShortlistEntry
    raw_id_fields = ("creator", "added_by")
    extra = 0


@admin.register(Shortlist)
class ShortlistAdmin(admin.ModelAdmin):
    list_display = ("name", "brand", "created_by", "created_at")
    search_fields = ("name", "brand__name")
    raw_id_fields = ("brand", "created_by")
    inlines = [ShortlistEntryInline]


# --- campaigns, invitations, collaborations --------------------------------------------------------
from creatornext.core.api import DomainError  # noqa: E402
from marketplace import escrow  # noqa: E402
from marketplace.models import Campaign, Collaboration, CollaborationMessage, Invitation  # noqa: E402


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("title", "brand", "budget", "currency", "deadline", "created_at")
    search_fields = ("title", "brand__name")
    raw_id_fields = ("brand", "created_by")


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("pk", "campaign", "creator", "fee", "counter_fee", "state", "expires_at")
    list_filter = ("state",)
    search_fields = ("creator__handle", "campaign__title")


class CollaborationMessageInline(admin.TabularInline):
    model = CollaborationMessage
    fields = ("author", "body", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Collaboration)
class CollaborationAdmin(StaffDecisions, AwaitingSecondApproval, ReadOnlyAdmin):
    """Staff decide escalated collaborations: release escrow to the creator or refund the brand
    (confirmed with a reason, audited, both parties emailed). A fee above
    ``staff.second_approval_above`` moves only when a second staff member takes the same decision."""

    approval_subject = "collaboration"
    list_display = ("pk", "campaign", "brand", "creator", "fee", "state", "revisions", "submitted_at", "awaiting")
    list_filter = ("state",)
    search_fields = ("creator__handle", "brand__name", "campaign__title")
    inlines = [CollaborationMessageInline]
    actions = ["release", "refund"]

    def _decide(self, request: HttpRequest, queryset: QuerySet[Collaboration], release: bool):  # type: ignore[no-untyped-def]
        verb = "Release" if release else "Refund"
        reason = confirm_with_reason(
            self, request, queryset, verb=verb, action="release" if release else "refund",
            line=lambda c: f"#{c.pk} {c.brand} → @{c.creator.handle}: {c.fee} {c.currency} ({c.state})")
        if not isinstance(reason, str):
            return reason
        assert isinstance(request.user, User)
        for collaboration in queryset:
            decide = escrow.staff_release if release else escrow.staff_refund
            try:
                decided = decide(collaboration=collaboration, actor=request.user, reason=reason)
            except DomainError as exc:
                self.message_user(request, f"Collaboration {collaboration.pk}: {exc.message}", messages.ERROR)
            else:
                if decided.state == collaboration.state:  # the two-person rule: not yet
                    self.told_to_wait(request, collaboration, verb)
                else:
                    self.message_user(request, f"Collaboration {collaboration.pk}: {verb.lower()}d.",
                                      messages.SUCCESS)
        return None

    @admin.action(description="Release escrow to the creator (escalated collaborations)",
                  permissions=DECIDE)
    def release(self, request: HttpRequest, queryset: QuerySet[Collaboration]):  # type: ignore[no-untyped-def]
        return self._decide(request, queryset, True)

    @admin.action(description="Refund escrow to the brand (escalated collaborations)",
                  permissions=DECIDE)
    def refund(self, request: HttpRequest, queryset: QuerySet[Collaboration]):  # type: ignore[no-untyped-def]
        return self._decide(request, queryset, False)
