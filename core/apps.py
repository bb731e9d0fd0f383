from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Integrity kernel"

    def ready(self):
        from .audit import on_post_migrate

        post_migrate.connect(on_post_migrate, dispatch_uid="core.append_only_triggers")
