from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from creatornext.core import config
from creatornext.core.models import Heartbeat, OutboundEmail, Setting, StaffApproval


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that only code may write (ledger, payments, history): staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SettingForm(forms.ModelForm):
    reason = forms.CharField(max_length=500, help_text="Why (kept in the audit log).")

    class Meta:
        model = Setting
        fields = ["value"]

    def clean_value(self):
        definition = config.REGISTRY.get(self.instance.key)
        if definition is None:
            raise ValidationError("This setting is no longer used.")
        return definition.validate(self.cleaned_data["value"])


@admin.register(Setting)
class SettingAdmin(admin.ModelAdmin):
    form = SettingForm
    list_display = ("key", "value", "default", "help", "updated_at", "updated_by")
    search_fields = ("key",)
    readonly_fields = ("key", "default", "help", "updated_at", "updated_by")
    fields = ("key", "help", "default", "value", "reason", "updated_at", "updated_by")

    @admin.display(description="default")
    def default(self, obj):
        definition = config.REGISTRY.get(obj.key)
        return definition.default if definition else "—"

    @admin.display(description="what it is")
    def help(self, obj):
        definition = config.REGISTRY.get(obj.key)
        return definition.help if definition else "(no longer used)"

    def changelist_view(self, request, extra_context=None):
        config.ensure_rows()
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        # Through the service: validated, audited, cache cleared.
        config.set_value(definition=config.REGISTRY[obj.key], value=form.cleaned_data["value"],
                         actor=request.user, reason=form.cleaned_data["reason"])


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ("source", "last_seen", "count")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "template", "subject", "status", "attempts", "sent_at")
    list_filter = ("status", "template")
    search_fields = ("subject", "to")
    readonly_fields = [f.name for f in OutboundEmail._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def confirm_with_reason(modeladmin, request, queryset, *, verb: str, action: str, line):
    """First call: a confirmation page listing ``line(obj)`` for each object, asking for a reason.
    After "apply": the reason (or None when it is missing, with a message to the user)."""
    from django.contrib import messages
    from django.template.response import TemplateResponse

    if "apply" not in request.POST:
        return TemplateResponse(request, "admin/confirm_action.html", {
            **modeladmin.admin_site.each_context(request),
            "title": f"{verb} {queryset.model._meta.verbose_name_plural}",
            "verb": verb, "queryset": queryset, "lines": [line(obj) for obj in queryset], "action": action,
            "opts": queryset.model._meta})
    reason = request.POST.get("reason", "").strip()
    if not reason:
        modeladmin.message_user(request, "Give a reason.", messages.ERROR)
        return None
    return reason


class StaffDecisions:
    """Admin mixin: actions that move money or change someone's standing are decisions, offered
    (``@admin.action(..., permissions=DECIDE)``) only to staff who hold the model's *change*
    permission — also where the admin is otherwise read-only — so a member who may only look at
    refunds, escrow or redemptions cannot decide them. Superusers hold every permission."""

    def has_decide_permission(self, request) -> bool:
        from django.contrib.auth import get_permission_codename

        opts = self.opts  # type: ignore[attr-defined]
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")


DECIDE = ("decide",)


class AwaitingSecondApproval:
    """Admin mixin for objects under the two-person rule (creatornext/core/approvals.py): a
    "second approval" column (add ``"awaiting"`` to list_display) showing which decision a first
    staff member asked for, and ``told_to_wait`` for the action's message. ``approval_subject`` is
    the prefix the service uses in ``second_approval(subject=...)``, e.g. "redemption"."""

    approval_subject = ""

    @admin.display(description="second approval")
    def awaiting(self, obj) -> str:
        return f"{obj.awaiting_action} asked" if obj.awaiting_action else "—"

    def get_queryset(self, request):
        from django.db.models import CharField, OuterRef, Subquery, Value
        from django.db.models.functions import Cast, Concat

        pending = StaffApproval.objects.filter(
            status=StaffApproval.Status.PENDING,
            subject=Concat(Value(f"{self.approval_subject}:"), Cast(OuterRef("pk"), CharField())))
        return super().get_queryset(request).annotate(  # type: ignore[misc]
            awaiting_action=Subquery(pending.values("action")[:1]))

    def told_to_wait(self, request, obj, verb: str) -> None:
        from django.contrib import messages

        self.message_user(request, f"{obj._meta.verbose_name.capitalize()} {obj.pk}: large; a second "  # type: ignore[attr-defined]
                          f"staff member must {verb.lower()} it too.", messages.WARNING)


@admin.register(StaffApproval)
class StaffApprovalAdmin(StaffDecisions, ReadOnlyAdmin):
    """Large decisions waiting for a second staff member. They confirm by taking the same decision
    on the subject (e.g. approving the redemption); here a pending request can be withdrawn."""

    list_display = ("requested_at", "action", "subject", "amount", "currency", "status", "requested_by",
                    "decided_by")
    list_filter = ("status", "action")
    search_fields = ("subject",)
    actions = ["withdraw"]

    @admin.action(description="Withdraw the selected pending requests", permissions=DECIDE)
    def withdraw(self, request, queryset):
        from django.contrib import messages

        from creatornext.core import approvals

        reason = confirm_with_reason(self, request, queryset, verb="Withdraw", action="withdraw",
                                     line=lambda a: f"{a.action} {a.subject} by {a.requested_by} ({a.status})")
        if not isinstance(reason, str):
            return reason
        for approval in queryset:
            try:
                approvals.withdraw(approval=approval, actor=request.user, reason=reason)
            except approvals.SecondApprovalRefused as exc:
                self.message_user(request, f"{approval}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{approval.action} {approval.subject}: withdrawn.", messages.SUCCESS)
        return None
