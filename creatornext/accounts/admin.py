from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from creatornext.accounts.models import User


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = (*(BaseUserAdmin.fieldsets or ()), ("Profile", {"fields": ("date_of_birth",)}))
