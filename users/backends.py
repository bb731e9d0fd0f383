from django.contrib.auth import backends, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection


def _permissions_sql():
    user_model = get_user_model()
    direct = user_model.user_permissions.through._meta.db_table
    membership = user_model.groups.through._meta.db_table
    roles = Group.permissions.through._meta.db_table
    quote = connection.ops.quote_name
    return (
        f"SELECT ct.app_label, p.codename FROM {quote(Permission._meta.db_table)} p "
        f"JOIN {quote(ContentType._meta.db_table)} ct ON ct.id = p.content_type_id "
        f"WHERE p.id IN (SELECT permission_id FROM {quote(direct)} WHERE user_id = %s) "
        f"OR p.id IN (SELECT r.permission_id FROM {quote(roles)} r "
        f"JOIN {quote(membership)} m ON m.group_id = r.group_id WHERE m.user_id = %s)"
    )


class ModelBackend(backends.ModelBackend):
    """Django's model backend, reading a user's own and role (group) permissions at once.

    Every API request checks a permission; Django reads direct and group permissions in two
    ORM queries, whose building costs more than running them. Here both sets come from one
    fixed statement (same tables, same result), cached on the user object for the request
    as Django does.
    """

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            with connection.cursor() as cursor:
                cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}
        return user_obj._perm_cache
