from django.contrib import admin, messages

from tips import services
from tips.models import Tip


@admin.register(Tip)
class TipAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "fan", "creator", "amount", "currency", "status", "anonymous")
    list_filter = ("anonymous", "payment__status")
    search_fields = ("fan__username", "creator__handle", "message")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Tip._meta.fields]
    actions = ["refund"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Refund the selected tips (the creator's net is taken back)")
    def refund(self, request, queryset):
        for tip in queryset.select_related("payment"):
            try:
                services.tip_refund(tip=tip, actor=request.user, reason="Refunded by staff in the admin")
            except services.RefundNotPossible as exc:
                self.message_user(request, f"Tip {tip.pk}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"Tip {tip.pk} refunded.", messages.SUCCESS)
