"""Staff: marketplace profiles, shortlists, and brand verification (an action on the Brand admin)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from creatornext.accounts.admin import BrandAdmin
from creatornext.accounts.models import Brand, User
from marketplace import services
from marketplace.models import MarketplaceProfile, Shortlist, ShortlistEntry


class VerifiableBrandAdmin(BrandAdmin):
    """The accounts Brand admin, plus verification: audited, and the owners get an email."""

    actions = ["verify", "unverify"]

    @admin.action(description="Verify the selected brands (they may then contact creators)")
    def verify(self, request: HttpRequest, queryset: QuerySet[Brand]) -> None:
        assert isinstance(request.user, User)
        done = 0
        for brand in queryset.filter(verified_at__isnull=True):
            services.brand_verify(brand=brand, actor=request.user, reason="admin action")
            done += 1
        self.message_user(request, f"{done} brand(s) verified.", messages.SUCCESS)

    @admin.action(description="Withdraw verification of the selected brands")
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
