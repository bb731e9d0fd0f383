from django.db import migrations

ROLES = ("operator", "verifier", "author", "qa_reviewer", "qa_approver", "records_admin")


def create_role_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    """The six role groups of SPEC §7. Their permissions are kept in step with the code's
    declarations by users.roles.sync_role_permissions after every migrate."""

    dependencies = [("users", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
