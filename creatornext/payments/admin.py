from django.contrib import admin

from creatornext.core.admin import DECIDE, ReadOnlyAdmin, StaffDecisions
from creatornext.payments.models import Payment, PaymentStatusChange, Refund, WebhookEvent


class HistoryInline(admin.TabularInline):
    model = PaymentStatusChange
    fields = ("created_at", "from_status", "to_status", "source")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "purpose", "ref", "payer", "amount", "currency", "fee", "status")
    list_filter = ("status", "purpose", "currency")
    search_fields = ("ref", "provider_id", "charge_id", "payer__username")
    date_hierarchy = "created_at"
    inlines = [HistoryInline]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "payment", "amount", "status", "requested_by")
    list_filter = ("status",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(StaffDecisions, ReadOnlyAdmin):
    list_display = ("event_id", "type", "status", "attempts", "received_at", "processed_at",
                    "next_attempt_at")
    list_filter = ("status", "type")
    search_fields = ("event_id", "last_error")
    actions = ["retry_now"]

    @admin.action(description="Retry the selected events now", permissions=DECIDE)
    def retry_now(self, request, queryset):
        from creatornext.payments.webhooks import webhook_event_process

        done = [webhook_event_process(event_pk=e.pk).status for e in queryset]
        self.message_user(request, f"Retried {len(done)} event(s): {', '.join(done)}.")
