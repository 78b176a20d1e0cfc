"""The ledger in the admin: read-only. Corrections are reversing transactions, never edits."""

from django.contrib import admin

from creatornext.core.admin import ReadOnlyAdmin
from creatornext.ledger.models import Account, Entry, Hold, Transaction


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "kind", "asset", "balance", "rule")
    list_filter = ("kind", "asset", "rule")
    search_fields = ("owner__username",)


class EntryInline(admin.TabularInline):
    model = Entry
    fields = ("account", "asset", "amount", "balance_after")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "key", "ref")
    list_filter = ("kind",)
    search_fields = ("key", "ref")
    date_hierarchy = "created_at"
    inlines = [EntryInline]


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "transaction", "account", "asset", "amount", "balance_after")
    list_filter = ("asset",)
    search_fields = ("owner__username", "transaction__key")
    list_select_related = ("transaction", "account")


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "owner", "currency", "amount", "cancelled_amount", "release_at", "released_at")
    list_filter = ("currency",)
    search_fields = ("owner__username",)
