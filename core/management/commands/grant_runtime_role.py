from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from core.db_roles import check_runtime_role, create_runtime_role, grant_runtime_privileges, role_exists


class Command(BaseCommand):
    help = (
        "Give the server's database role exactly the privileges it needs (run as the owner role, "
        "after every migrate), or with --check report how it differs (exit 1)."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the runtime role the server connects as")
        parser.add_argument("--check", action="store_true", help="only compare; change nothing")
        parser.add_argument("--create", action="store_true", help="create the role (LOGIN, no password) if missing")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, role, check, create, database, **options):
        connection = connections[database]
        if connection.vendor != "postgresql":
            raise CommandError("Database roles are a PostgreSQL feature; this database is " + connection.vendor + ".")
        if not check:
            with transaction.atomic(using=database):
                if not role_exists(role, using=database):
                    if not create:
                        raise CommandError(f"Role {role} does not exist (pass --create to create it).")
                    try:
                        create_runtime_role(role, using=database)
                    except DatabaseError as error:
                        raise CommandError(
                            f"Could not create role {role} ({error}). Have a database administrator "
                            f"create it: CREATE ROLE {role} LOGIN PASSWORD '…'"
                        ) from error
                    self.stdout.write(f"Created role {role} (LOGIN, no password: set one with ALTER ROLE).")
                tables = grant_runtime_privileges(role, using=database)
            self.stdout.write(f"Granted {role} its privileges on {len(tables)} tables.")
        problems = check_runtime_role(role, using=database)
        for problem in problems:
            self.stderr.write(problem)
        if problems:
            raise CommandError(f"Role {role} is not least-privilege: {len(problems)} problem(s).")
        self.stdout.write(f"Role {role}: least privilege as declared.")
