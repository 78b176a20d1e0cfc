from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "creatornext.audit"
    label = "audit"
