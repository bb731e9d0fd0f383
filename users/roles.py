"""The six role groups (SPEC §7) and the permissions each holds.

Each app declares what its roles need in its own `roles.py` as
`ROLE_PERMISSIONS = {"operator": ["batch_records.view_batchrecord", ...], ...}`. The groups
are created by a data migration; after every `migrate` their permissions are set to exactly
the union of those declarations, so the code is the single source of truth.
"""

from importlib import import_module

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured

OPERATOR = "operator"
VERIFIER = "verifier"
AUTHOR = "author"
QA_REVIEWER = "qa_reviewer"
QA_APPROVER = "qa_approver"
RECORDS_ADMIN = "records_admin"
ROLES = (OPERATOR, VERIFIER, AUTHOR, QA_REVIEWER, QA_APPROVER, RECORDS_ADMIN)

_everyone_reads = ["users.view_site", "users.view_productline"]
ROLE_PERMISSIONS = {
    **{role: list(_everyone_reads) for role in ROLES},
    RECORDS_ADMIN: _everyone_reads
    + [
        "users.view_user",
        "users.add_user",
        "users.change_user",
        "users.unlock_user",
        "users.add_site",
        "users.change_site",
        "users.add_productline",
        "users.change_productline",
    ],
}


def declared_role_permissions():
    merged = {role: set() for role in ROLES}
    for app_config in apps.get_app_configs():
        try:
            module = import_module(f"{app_config.name}.roles")
        except ModuleNotFoundError:
            continue
        for role, permissions in getattr(module, "ROLE_PERMISSIONS", {}).items():
            if role not in merged:
                raise ImproperlyConfigured(f"{app_config.name}.roles names an unknown role {role!r}")
            merged[role].update(permissions)
    return merged


def sync_role_permissions(sender=None, using="default", **kwargs):
    """Give each role group exactly its declared permissions (post_migrate, idempotent)."""
    from django.contrib.auth.models import Group, Permission

    declared = declared_role_permissions()
    wanted = {name for names in declared.values() for name in names}
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p
        for p in Permission.objects.using(using).select_related("content_type")
    }
    last_app = list(apps.get_app_configs())[-1]
    missing = sorted(wanted - set(by_name))
    if missing and sender is not None and sender.name == last_app.name:
        raise ImproperlyConfigured(f"Role permissions that do not exist: {', '.join(missing)}")
    for role, names in declared.items():
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.set([by_name[name] for name in names if name in by_name])
