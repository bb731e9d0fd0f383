"""Least privilege in the database (21 CFR 11.10(c), (d); EU GMP Annex 11 §12).

Two PostgreSQL roles: the owner role runs `migrate`, owns every table and installs the
append-only triggers; the runtime role that the server connects with owns nothing and holds
only the DML it needs. On audit tables (history, signatures, the lot ledger) that is SELECT and
INSERT: no UPDATE, DELETE or TRUNCATE, and on no table TRIGGER, REFERENCES or any DDL (DDL
needs ownership, which the runtime role never has).

`runtime_privileges()` is the one declaration; `grant_runtime_privileges()` applies it and
`check_runtime_role()` compares the database with it (manage.py grant_runtime_role).
"""

from django.apps import apps
from django.db import connections

from .audit import append_only_tables

AUDIT_TABLE_PRIVILEGES = ("SELECT", "INSERT")
RECORD_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
ALL_TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
# Django reads which migrations ran (the test runner, `migrate --check`); only the owner writes.
READ_ONLY_TABLES = {"django_migrations": ("SELECT",)}
ROLE_ATTRIBUTES = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolreplication", "rolbypassrls")


def runtime_privileges():
    """{table: privileges} the server's role holds: exactly these, on no other table.

    A model may declare `runtime_privileges` itself (e.g. a table that is updated but whose
    rows are never deleted)."""
    append_only = set(append_only_tables())
    tables = dict(READ_ONLY_TABLES)
    for model in apps.get_models(include_auto_created=True):
        if not model._meta.managed or model._meta.proxy:
            continue
        table = model._meta.db_table
        declared = getattr(model, "runtime_privileges", None)
        if table in append_only:
            tables[table] = AUDIT_TABLE_PRIVILEGES
        elif declared is not None:
            tables[table] = tuple(declared)
        else:
            tables[table] = RECORD_TABLE_PRIVILEGES
    return tables


def _quote(connection, name):
    return connection.ops.quote_name(name)


def _schema_tables(cursor):
    cursor.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')"
    )
    return cursor.fetchall()


def role_exists(role, using="default"):
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        return cursor.fetchone() is not None


def create_runtime_role(role, *, login=True, using="default"):
    """A role with no power beyond what is granted to it: not a superuser, creates no
    database or role, bypasses no row security, inherits nothing."""
    connection = connections[using]
    options = "LOGIN" if login else "NOLOGIN"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE ROLE {_quote(connection, role)} {options} NOSUPERUSER NOCREATEDB NOCREATEROLE "
            "NOREPLICATION NOBYPASSRLS NOINHERIT"
        )


def grant_runtime_privileges(role, using="default"):
    """Set `role`'s privileges on this database to exactly `runtime_privileges()`.

    Idempotent: every privilege is revoked, then the declared ones granted, in one
    transaction; re-run it after each `migrate` (new tables start with no grant)."""
    connection = connections[using]
    quoted_role = _quote(connection, role)
    wanted = runtime_privileges()
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_schema()")
        database, schema = cursor.fetchone()
        cursor.execute(f"GRANT CONNECT ON DATABASE {_quote(connection, database)} TO {quoted_role}")
        cursor.execute(f"REVOKE CREATE ON DATABASE {_quote(connection, database)} FROM {quoted_role}")
        cursor.execute(f"REVOKE CREATE ON SCHEMA {_quote(connection, schema)} FROM {quoted_role}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {_quote(connection, schema)} TO {quoted_role}")
        for name, kind in _schema_tables(cursor):
            quoted = _quote(connection, name)
            if kind == "S":
                # nextval() for the tables' id columns; no setval (UPDATE) on a sequence.
                cursor.execute(f"REVOKE ALL ON SEQUENCE {quoted} FROM {quoted_role}")
                cursor.execute(f"GRANT USAGE ON SEQUENCE {quoted} TO {quoted_role}")
                continue
            cursor.execute(f"REVOKE ALL ON TABLE {quoted} FROM {quoted_role}")
            privileges = wanted.get(name)
            if privileges:
                cursor.execute(f"GRANT {', '.join(privileges)} ON TABLE {quoted} TO {quoted_role}")
    return wanted


def check_runtime_role(role, using="default"):
    """Every way `role` differs from least privilege, as sentences (empty: as declared)."""
    connection = connections[using]
    problems = []
    wanted = runtime_privileges()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(ROLE_ATTRIBUTES)} FROM pg_roles WHERE rolname = %s", [role])
        attributes = cursor.fetchone()
        if attributes is None:
            return [f"Role {role} does not exist."]
        for name, value in zip(ROLE_ATTRIBUTES, attributes, strict=True):
            if value:
                problems.append(f"Role {role} has {name.removeprefix('rol').upper()}.")
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND pg_has_role(%s, c.relowner, 'MEMBER')",
            [role],
        )
        owned = [row[0] for row in cursor.fetchall()]
        if owned:
            problems.append(
                f"Role {role} owns (or may act as the owner of) {len(owned)} tables: {', '.join(owned[:5])}."
            )
        cursor.execute(
            "SELECT has_schema_privilege(%s, current_schema(), 'CREATE'), "
            "has_database_privilege(%s, current_database(), 'CREATE')",
            [role, role],
        )
        schema_create, database_create = cursor.fetchone()
        if schema_create:
            problems.append(f"Role {role} may CREATE in the schema.")
        if database_create:
            problems.append(f"Role {role} may CREATE schemas in the database.")
        for name, kind in _schema_tables(cursor):
            if kind == "S":
                continue
            expected = set(wanted.get(name, ()))
            cursor.execute(
                "SELECT " + ", ".join("has_table_privilege(%s, %s::regclass, %s)" for _ in ALL_TABLE_PRIVILEGES),
                [value for privilege in ALL_TABLE_PRIVILEGES for value in (role, _quote(connection, name), privilege)],
            )
            held = {privilege for privilege, has in zip(ALL_TABLE_PRIVILEGES, cursor.fetchone(), strict=True) if has}
            if held - expected:
                problems.append(f"{name}: {role} holds {', '.join(sorted(held - expected))} (not needed).")
            if expected - held:
                problems.append(f"{name}: {role} lacks {', '.join(sorted(expected - held))}.")
    return problems
