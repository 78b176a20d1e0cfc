"""Payouts in the admin: batches with progress (start, resume), items, withdrawals, accounts,
and reconciliation reports with every mismatch. Money never moves by editing a row here."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from creatornext.core.admin import DECIDE, StaffDecisions
from creatornext.payouts import batches
from creatornext.payouts.models import (
    Mismatch,
    PayoutAccount,
    PayoutBatch,
    PayoutItem,
    ReconciliationRun,
    Withdrawal,
)


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _enqueue(batch_id: int) -> None:
    from creatornext.payouts.tasks import payout_batch_run

    transaction.on_commit(lambda: payout_batch_run.delay(batch_id))


class PayoutItemInline(admin.TabularInline):
    model = PayoutItem
    fields = ("id", "user", "amount", "currency", "stage", "attempts", "transfer_id", "failure_code",
              "last_error")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    show_change_link = True


@admin.register(PayoutBatch)
class PayoutBatchAdmin(StaffDecisions, ReadOnly):
    list_display = ("id", "created_at", "stage", "progress", "started_by", "note", "finished_at")
    list_filter = ("stage",)
    readonly_fields = ("stage", "started_by", "note", "created_at", "funded_at", "finished_at",
                       "last_run_at", "progress")
    inlines = [PayoutItemInline]
    actions = ["resume"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            n_total=Count("items"), n_done=Count("items", filter=Q(items__stage=PayoutItem.Stage.PAID)),
            n_failed=Count("items", filter=Q(items__stage=PayoutItem.Stage.FAILED)))

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff  # every staff member may follow a batch's progress

    @admin.display(description="progress (done / failed / total)")
    def progress(self, obj: PayoutBatch):
        total = getattr(obj, "n_total", None)
        if total is None:
            p = batches.batch_progress(obj)
            total, done, failed = p["total"], p["done"], p["failed"]
        else:
            done, failed = getattr(obj, "n_done", 0), getattr(obj, "n_failed", 0)
        return format_html('<progress value="{}" max="{}" aria-label="batch {} progress"></progress> '
                           '{} done / {} failed / {} total', done + failed, total or 1, obj.pk,
                           done, failed, total)

    @admin.action(description="Resume the selected batches (safe: nothing is paid twice)", permissions=DECIDE)
    def resume(self, request, queryset):
        for batch in queryset.exclude(stage=PayoutBatch.Stage.DONE):
            _enqueue(batch.pk)
            self.message_user(request, f"Batch {batch.pk} queued to resume.", messages.SUCCESS)

    def get_urls(self):
        return [path("start/", self.admin_site.admin_view(self.start_view), name="payouts_batch_start"),
                *super().get_urls()]

    def start_view(self, request: HttpRequest):
        if not self.has_decide_permission(request):
            raise PermissionDenied
        if request.method == "POST":
            with transaction.atomic():
                batch = batches.payout_batch_create(actor=request.user)
                if batch is None:
                    self.message_user(request, "No withdrawals are waiting for a batch.", messages.INFO)
                else:
                    _enqueue(batch.pk)
                    self.message_user(request, f"Batch {batch.pk} started with {batch.items.count()} items.",
                                      messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:payouts_payoutbatch_changelist"))


@admin.register(PayoutItem)
class PayoutItemAdmin(ReadOnly):
    list_display = ("id", "batch", "user", "amount", "currency", "stage", "attempts", "transfer_id",
                    "paid_at")
    list_filter = ("stage", "currency")
    search_fields = ("user__username", "transfer_id")


@admin.register(Withdrawal)
class WithdrawalAdmin(ReadOnly):
    list_display = ("id", "created_at", "user", "amount", "currency", "status", "netted_debt", "auto_week")
    list_filter = ("status", "currency")
    search_fields = ("user__username",)


@admin.register(PayoutAccount)
class PayoutAccountAdmin(ReadOnly):
    list_display = ("user", "provider_id", "status", "payouts_enabled", "auto_withdraw", "changed_at")
    list_filter = ("payouts_enabled", "auto_withdraw")
    search_fields = ("user__username", "provider_id")


class MismatchInline(admin.TabularInline):
    model = Mismatch
    fields = ("kind", "ref", "message", "ours", "theirs")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(ReadOnly):
    list_display = ("id", "started_at", "since", "mismatch_count", "checked", "error")
    readonly_fields = ("started_at", "finished_at", "since", "checked", "mismatch_count", "error")
    inlines = [MismatchInline]

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff


@admin.register(Mismatch)
class MismatchAdmin(ReadOnly):
    list_display = ("id", "run", "kind", "ref", "message")
    list_filter = ("kind",)
    search_fields = ("ref", "message")
