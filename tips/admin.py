from django.contrib import admin, messages

from creatornext.core.admin import DECIDE, AwaitingSecondApproval, StaffDecisions, confirm_with_reason
from tips import services, velocity
from tips.models import Tip


class HeldFilter(admin.SimpleListFilter):
    """The velocity review queue (tips/velocity.py)."""

    title = "velocity review"
    parameter_name = "held"

    def lookups(self, request, model_admin):
        return [("yes", "Held for review")]

    def queryset(self, request, queryset):
        return velocity.held_tips(queryset) if self.value() == "yes" else queryset


@admin.register(Tip)
class TipAdmin(StaffDecisions, AwaitingSecondApproval, admin.ModelAdmin):
    approval_subject = "tip"
    list_display = ("id", "created_at", "fan", "creator", "amount", "currency", "status", "anonymous", "awaiting")
    list_filter = ("anonymous", "payment__status", HeldFilter)
    search_fields = ("fan__username", "creator__handle", "message")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Tip._meta.fields]
    actions = ["refund", "release_velocity_hold"]

    @admin.action(description="Release the velocity hold of the selected tips (credit follows the normal hold)",
                  permissions=DECIDE)
    def release_velocity_hold(self, request, queryset):
        reason = confirm_with_reason(
            self, request, queryset, verb="Release", action="release_velocity_hold",
            line=lambda t: f"#{t.pk}: {t.amount} cents from {t.fan} to @{t.creator.handle}")
        if not isinstance(reason, str):
            return reason
        for tip in queryset:
            if velocity.velocity_release(tip=tip, actor=request.user, reason=reason):
                self.message_user(request, f"Tip {tip.pk} released.", messages.SUCCESS)
            else:
                self.message_user(request, f"Tip {tip.pk} was not held.", messages.WARNING)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Refund the selected tips (the creator's net is taken back)",
                  permissions=DECIDE)
    def refund(self, request, queryset):
        reason = confirm_with_reason(
            self, request, queryset, verb="Refund", action="refund",
            line=lambda t: f"#{t.pk}: {t.amount} cents from {t.fan} to @{t.creator.handle} ({t.status})")
        if not isinstance(reason, str):
            return reason
        for tip in queryset.select_related("payment"):
            try:
                done = services.tip_refund(tip=tip, actor=request.user, reason=reason)
            except services.RefundNotPossible as exc:
                self.message_user(request, f"Tip {tip.pk}: {exc.message}", messages.ERROR)
            else:
                if done:
                    self.message_user(request, f"Tip {tip.pk} refunded.", messages.SUCCESS)
                else:
                    self.told_to_wait(request, tip, "Refund")
