from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "creatornext.accounts"
    label = "accounts"
