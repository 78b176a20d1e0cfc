"""Staff: rules and terms (audited through the services), creators' metrics (the feed), overrides.

Every save goes through a service, which writes the audit event; nothing here writes a row itself.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from creatornext.accounts.models import User
from creatornext.accounts.selectors import creator_by_handle
from creatornext.core import config
from eligibility import services
from eligibility.imports import IMPORT_MAX_BYTES, OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from eligibility.models import (
    CreatorMetrics,
    Enrollment,
    MetricsImport,
    MetricsSnapshot,
    Program,
    ReevaluationRun,
    Rule,
    TermsVersion,
)


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Program)
class ProgramAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "position", "rules_version", "reoptin_after_revoke_days")
    readonly_fields = ("rules_version", "updated_at")

    def get_readonly_fields(self, request, obj=None):
        # The slug is the API's and other apps' name for the program (require_enrolled(c, "tips")).
        return (*self.readonly_fields, "slug") if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        services.program_save(program=obj, actor=_staff(request))

    def has_delete_permission(self, request, obj=None):
        return False  # enrolments point at programs


class RuleForm(forms.ModelForm):
    class Meta:
        model = Rule
        fields = ("program", "key", "country", "threshold", "allowed")

    def clean_country(self):
        return self.cleaned_data["country"].upper()


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = ("program", "key", "country", "threshold", "allowed", "updated_at")
    list_filter = ("program", "key", "country")
    list_select_related = ("program",)

    def save_model(self, request, obj, form, change):
        services.rule_save(rule=obj, actor=_staff(request))

    def delete_model(self, request, obj):
        services.rule_delete(rule=obj, actor=_staff(request))

    def delete_queryset(self, request, queryset):
        for rule in queryset:
            services.rule_delete(rule=rule, actor=_staff(request))


@admin.register(TermsVersion)
class TermsVersionAdmin(admin.ModelAdmin):
    list_display = ("program", "version", "published_at", "created_at")
    list_filter = ("program",)

    def get_changeform_initial_data(self, request):
        return {"published_at": timezone.now()}

    def has_change_permission(self, request, obj=None):
        return obj is None  # published terms are never edited: publish a new version

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.terms_publish(terms=obj, actor=_staff(request))


class OverrideForm(forms.Form):
    ACTIONS = [("grant", "Grant: counts as eligible whatever the metrics, until removed"),
               ("grant_remove", "Remove a staff grant"),
               ("revoke", "Revoke: remove from the program (opt-in again only after the wait)")]

    handle = forms.CharField(max_length=24, label="Creator handle")
    program = forms.ModelChoiceField(queryset=Program.objects.all(), to_field_name="slug")
    action = forms.ChoiceField(choices=ACTIONS, widget=forms.RadioSelect)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="Required: kept in the audit log.")

    def clean_handle(self):
        creator = creator_by_handle(self.cleaned_data["handle"])
        if creator is None:
            raise ValidationError("No creator with this handle.")
        return creator


@admin.register(Enrollment)
class EnrollmentAdmin(ReadOnlyAdmin):
    list_display = ("creator", "program", "status", "staff_granted", "terms_version", "rules_version",
                    "status_changed_at")
    list_filter = ("program", "status", "staff_granted")
    search_fields = ("creator__handle",)
    list_select_related = ("creator", "program")
    change_list_template = "admin/eligibility/enrollment/change_list.html"

    def get_urls(self):
        return [path("override/", self.admin_site.admin_view(self.override_view),
                     name="eligibility_enrollment_override"), *super().get_urls()]

    def override_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("eligibility.change_enrollment"):
            raise PermissionDenied
        initial = {k: request.GET[k] for k in ("handle", "program") if k in request.GET}
        form = OverrideForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            service = {"grant": services.enrollment_grant, "grant_remove": services.enrollment_grant_remove,
                       "revoke": services.enrollment_revoke}[form.cleaned_data["action"]]
            enrollment = service(creator=form.cleaned_data["handle"],
                                 program=form.cleaned_data["program"].slug, actor=_staff(request),
                                 reason=form.cleaned_data["reason"])
            self.message_user(request, f"{enrollment}: done, and recorded in the audit log.",
                              messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:eligibility_enrollment_changelist"))
        context = {**self.admin_site.each_context(request), "title": "Staff override", "form": form,
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/eligibility/enrollment/override.html", context)


class MetricsSnapshotInline(admin.TabularInline):
    model = MetricsSnapshot
    fk_name = "creator"
    extra = 0
    can_delete = False
    ordering = ("-recorded_at", "-id")
    fields = ("recorded_at", "source", "recorded_by", "followers", "views_30d", "posts_30d",
              "account_created_at", "account_type", "standing", "fraud_flag", "last_public_post_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class CreatorMetricsForm(forms.ModelForm):
    class Meta:
        model = CreatorMetrics
        fields = services.METRIC_FIELDS

    def clean(self):
        data = super().clean() or {}
        try:
            services.metrics_validate({k: v for k, v in data.items() if k in services.METRIC_FIELDS},
                                      now=timezone.now())
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                for error in errors:
                    self.add_error(name if name in self.fields else None, error)
        return data


@admin.register(CreatorMetrics)
class CreatorMetricsAdmin(admin.ModelAdmin):
    """The metrics feed in the admin: a save is recorded like an API or CSV update."""

    form = CreatorMetricsForm
    list_display = ("handle", "country", "followers", "views_30d", "posts_30d", "account_type", "standing",
                    "fraud_flag", "metrics_updated_at")
    list_filter = ("country", "standing", "account_type", "fraud_flag")
    search_fields = ("handle",)
    readonly_fields = ("handle", "country", "metrics_updated_at")
    fields = ("handle", "country", *services.METRIC_FIELDS, "metrics_updated_at")
    inlines = [MetricsSnapshotInline]
    actions = ["reevaluate"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.metrics_update(creator=obj, actor=_staff(request), source=MetricsSnapshot.Source.ADMIN,
                                **{f: form.cleaned_data[f] for f in services.METRIC_FIELDS})

    @admin.action(description="Re-evaluate the selected creators now", permissions=("change",))
    def reevaluate(self, request: HttpRequest, queryset: QuerySet[CreatorMetrics]) -> None:
        changed = 0
        for creator in queryset:
            changed += len(services.creator_reevaluate(creator=creator, actor=_staff(request),
                                                       cause="Staff re-evaluation"))
        self.message_user(request, f"Re-evaluated {queryset.count()} creator(s); {changed} program(s) "
                                   "paused or resumed.")


@admin.register(MetricsSnapshot)
class MetricsSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("creator", "recorded_at", "source", "recorded_by", "followers", "views_30d",
                    "posts_30d", "standing", "fraud_flag")
    list_filter = ("source",)
    search_fields = ("creator__handle",)
    list_select_related = ("creator", "recorded_by")
    date_hierarchy = "recorded_at"


@admin.register(ReevaluationRun)
class ReevaluationRunAdmin(ReadOnlyAdmin):
    list_display = ("started_at", "kind", "day", "batches", "creators_checked", "changes", "finished_at")
    list_filter = ("kind",)


class MetricsImportForm(forms.ModelForm):
    upload = forms.FileField(help_text="CSV columns: " + ", ".join(REQUIRED_COLUMNS)
                             + " (optional: " + ", ".join(OPTIONAL_COLUMNS) + ").")

    class Meta:
        model = MetricsImport
        fields: list[str] = []

    def clean_upload(self):
        upload = self.cleaned_data["upload"]
        limit = config.get(IMPORT_MAX_BYTES)
        if upload.size > limit:
            raise ValidationError(f"The file is larger than {limit:,} bytes; split it or use "
                                  "`manage.py import_creator_metrics`.")
        try:
            return upload.name, upload.read().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ValidationError("The file is not UTF-8 text.") from exc


@admin.register(MetricsImport)
class MetricsImportAdmin(admin.ModelAdmin):
    """Upload a metrics CSV; a worker imports it while this page shows its progress."""

    list_display = ("id", "filename", "status", "progress", "uploaded_by", "created_at", "finished_at")
    readonly_fields = ("filename", "status", "progress", "changed", "unchanged", "refused", "report",
                       "uploaded_by", "created_at", "finished_at")
    change_list_template = "admin/eligibility/metricsimport/change_list.html"
    change_form_template = "admin/eligibility/metricsimport/change_form.html"

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = MetricsImportForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["upload"] if obj is None else list(self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # an import is a record of what happened

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="progress (rows)")
    def progress(self, obj: MetricsImport):
        total = max(obj.rows_total, obj.rows_done, 1)
        return format_html('<progress value="{}" max="{}" aria-label="import {} progress"></progress> {} / {} {}',
                           obj.rows_done, total, obj.pk, obj.rows_done, obj.rows_total, obj.get_status_display())

    def save_model(self, request, obj, form, change):
        from eligibility.tasks import metrics_import_run

        obj.filename, obj.content = form.cleaned_data["upload"]
        obj.rows_total = max(obj.content.count("\n") - 1 + (not obj.content.endswith("\n")), 0)
        obj.uploaded_by = _staff(request)
        obj.save()
        transaction.on_commit(lambda: metrics_import_run.delay(obj.pk))
