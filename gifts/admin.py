from django.contrib import admin

from gifts.models import CoinPack, CoinPurchase, Gift, GiftSend, Video, WalletLock


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


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CoinPurchase)
class CoinPurchaseAdmin(ReadOnly):
    list_display = ("id", "created_at", "fan", "coins", "price", "status")
    search_fields = ("fan__username",)


@admin.register(GiftSend)
class GiftSendAdmin(ReadOnly):
    list_display = ("id", "created_at", "fan", "creator", "gift", "quantity", "coins_spent",
                    "diamonds_credited")
    search_fields = ("fan__username", "creator__handle")


@admin.register(WalletLock)
class WalletLockAdmin(admin.ModelAdmin):
    """Staff review: deleting the lock (with a look at the fan's history) unlocks the wallet."""

    list_display = ("fan", "locked_at", "reason")
    search_fields = ("fan__username",)
