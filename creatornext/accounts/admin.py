from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from creatornext.accounts.models import Brand, BrandMembership, CreatorProfile, User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        ("Profile", {"fields": ("date_of_birth", "email_verified_at", "deleted_at")}),
    )
    list_display = ("username", "email", "email_verified_at", "is_staff", "deleted_at")
    list_filter = ("is_staff", "is_active", ("deleted_at", admin.EmptyFieldListFilter))
    readonly_fields = ("deleted_at",)


@admin.register(CreatorProfile)
class CreatorProfileAdmin(admin.ModelAdmin):
    list_display = ("handle", "user", "country", "followers", "standing", "fraud_flag")
    list_filter = ("country", "standing", "account_type", "fraud_flag")
    search_fields = ("handle", "user__username", "user__email")
    raw_id_fields = ("user",)
    # Metrics change only through the eligibility feed, which keeps their history.
    readonly_fields = ("followers", "views_30d", "posts_30d", "account_created_at", "account_type",
                       "standing", "fraud_flag", "last_public_post_at", "metrics_updated_at",
                       "created_at")


class BrandMembershipInline(admin.TabularInline):
    model = BrandMembership
    raw_id_fields = ("user",)
    extra = 0


@admin.register(Brand)
class BrandAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "verified_at", "created_at")
    list_filter = (("verified_at", admin.EmptyFieldListFilter),)
    search_fields = ("name", "slug")
    inlines = [BrandMembershipInline]
    readonly_fields = ("verified_at",)
