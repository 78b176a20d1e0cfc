from django.contrib import admin

from creatornext.audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "action", "actor", "actor_kind", "object_type", "object_id")
    list_filter = ("action", "actor_kind", "object_type")
    search_fields = ("action", "object_id", "reason", "actor__username")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
