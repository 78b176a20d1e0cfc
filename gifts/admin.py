from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from creatornext.core.admin import DECIDE, AwaitingSecondApproval, ReadOnlyAdmin, StaffDecisions, confirm_with_reason
from creatornext.core.api import DomainError
from gifts import services
from gifts.models import CoinPack, CoinPurchase, Gift, GiftSend, LiveStream, Redemption, Video, WalletLock


@admin.register(CoinPack)
class CoinPackAdmin(admin.ModelAdmin):
    list_display = ("coins", "price", "currency", "active")
    list_editable = ("active",)


@admin.register(Gift)
class GiftAdmin(admin.ModelAdmin):
    list_display = ("name", "coins", "icon", "active")
    list_filter = ("active",)
    search_fields = ("name",)


@admin.register(Video)
class VideoAdmin(admin.ModelAdmin):
    list_display = ("title", "creator", "kind", "public", "created_at")
    list_filter = ("kind", "public")
    search_fields = ("title", "creator__handle")


@admin.register(CoinPurchase)
class CoinPurchaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "fan", "coins", "price", "status")
    search_fields = ("fan__username",)


@admin.register(GiftSend)
class GiftSendAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "fan", "creator", "gift", "quantity", "coins_spent",
                    "diamonds_credited")
    search_fields = ("fan__username", "creator__handle")


@admin.register(WalletLock)
class WalletLockAdmin(admin.ModelAdmin):
    """Staff review: deleting the lock (with a look at the fan's history) unlocks the wallet."""

    list_display = ("fan", "locked_at", "reason")
    search_fields = ("fan__username",)


@admin.register(Redemption)
class RedemptionAdmin(StaffDecisions, AwaitingSecondApproval, admin.ModelAdmin):
    """The review queue: staff approve (pays the creator) or reject (returns the diamonds), with a
    reason that goes to the audit log."""

    approval_subject = "redemption"
    list_display = ("id", "created_at", "creator", "diamonds", "amount", "status", "reviewed_by", "awaiting")
    list_filter = ("status",)
    search_fields = ("creator__handle",)
    readonly_fields = [f.name for f in Redemption._meta.fields]
    actions = ["approve", "reject"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _decide(self, request, queryset, approve: bool):
        verb = "Approve" if approve else "Reject"
        reason = confirm_with_reason(
            self, request, queryset, verb=verb, action="approve" if approve else "reject",
            line=lambda r: f"#{r.pk} @{r.creator.handle}: {r.diamonds:,} diamonds → {r.amount} cents ({r.status})")
        if not isinstance(reason, str):
            return reason
        for redemption in queryset:
            try:
                decided = services.redemption_review(redemption=redemption, actor=request.user,
                                                     approve=approve, reason=reason)
            except (DomainError, ValidationError) as exc:
                self.message_user(request, f"Redemption {redemption.pk}: {exc}", messages.ERROR)
            else:
                if decided.status == Redemption.Status.IN_REVIEW:  # the two-person rule: not yet
                    self.told_to_wait(request, redemption, verb)
                else:
                    self.message_user(request, f"Redemption {redemption.pk}: {verb.lower()}d.", messages.SUCCESS)
        return None

    @admin.action(description="Approve the selected redemptions (pays the creator)", permissions=DECIDE)
    def approve(self, request, queryset):
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject the selected redemptions (returns the diamonds)", permissions=DECIDE)
    def reject(self, request, queryset):
        return self._decide(request, queryset, approve=False)


@admin.register(LiveStream)
class LiveStreamAdmin(admin.ModelAdmin):
    list_display = ("title", "creator", "started_at", "ended_at")
    search_fields = ("title", "creator__handle")
