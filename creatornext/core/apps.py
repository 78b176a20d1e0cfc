from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "creatornext.core"
    label = "core"
    verbose_name = "Platform"
