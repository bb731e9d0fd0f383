from django.apps import AppConfig
from django.db.models.signals import post_migrate


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Users, sites and roles"

    def ready(self):
        from core import lockout  # noqa: F401  (connects the lockout signal receiver)

        from .roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="users.sync_role_permissions")
