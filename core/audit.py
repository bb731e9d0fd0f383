"""The audit trail: append-only guarantees in the database, and field-level diffs.

Every history table (django-simple-history) and the signature table get triggers that
refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL). They are installed after every
`migrate` (post_migrate), so a new model's history table is covered as soon as it exists.
"""

import datetime
import decimal
import uuid

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from simple_history.models import HistoricalChanges

from .exceptions import AuditBypassError

TRIGGER_PREFIX = "ebr_append_only"
PG_FUNCTION = "ebr_refuse_audit_change"


def _is_history_model(model):
    if issubclass(model, HistoricalChanges):
        return True
    # Many-to-many history rows (e.g. a user's groups) hang off a history row.
    history = next((f for f in model._meta.concrete_fields if f.name == "history" and f.is_relation), None)
    return history is not None and issubclass(history.related_model, HistoricalChanges)


def append_only_tables():
    """Tables whose rows, once written, must never change: history and signatures."""
    tables = []
    for model in apps.get_models(include_auto_created=True):
        if _is_history_model(model) or getattr(model, "append_only", False):
            tables.append(model._meta.db_table)
    tables.append(apps.get_model("core", "Signature")._meta.db_table)
    return sorted(set(tables))


def _pg_statements(table):
    quoted = connections["default"].ops.quote_name(table)
    return [
        f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_row ON {quoted}",
        f"CREATE TRIGGER {TRIGGER_PREFIX}_row BEFORE UPDATE OR DELETE ON {quoted} "
        f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
        f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_truncate ON {quoted}",
        f"CREATE TRIGGER {TRIGGER_PREFIX}_truncate BEFORE TRUNCATE ON {quoted} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
    ]


def _sqlite_statements(table):
    quoted = connections["default"].ops.quote_name(table)
    statements = []
    for operation in ("UPDATE", "DELETE"):
        name = f"{TRIGGER_PREFIX}_{operation.lower()}_{table}"
        statements.append(
            f'CREATE TRIGGER IF NOT EXISTS "{name}" BEFORE {operation} ON {quoted} '
            f"BEGIN SELECT RAISE(ABORT, 'audit records are append-only: {operation} on {table} refused'); END"
        )
    return statements


def _connection(using):
    """An alias or a connection object (the test suite flushes through a connection of its own)."""
    return connections[using] if isinstance(using, str) else using


def install_append_only_triggers(using="default"):
    connection = _connection(using)
    existing = set(connection.introspection.table_names())
    tables = [table for table in append_only_tables() if table in existing]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'audit records are append-only: % on % refused', TG_OP, TG_TABLE_NAME "
                "USING ERRCODE = 'insufficient_privilege'; END $$"
            )
            for table in tables:
                for statement in _pg_statements(table):
                    cursor.execute(statement)
        elif connection.vendor == "sqlite":
            for table in tables:
                for statement in _sqlite_statements(table):
                    cursor.execute(statement)
        else:  # pragma: no cover - only PostgreSQL and SQLite are supported
            raise NotImplementedError(f"No append-only triggers for {connection.vendor}")
    return tables


def remove_append_only_triggers(using="default"):
    """Drop the triggers. Only the test suite uses this, to empty tables between
    transactional tests; it reinstalls them at once."""
    connection = _connection(using)
    existing = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in append_only_tables():
            if table not in existing:
                continue
            quoted = connection.ops.quote_name(table)
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_row ON {quoted}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER_PREFIX}_truncate ON {quoted}")
            else:
                for operation in ("update", "delete"):
                    cursor.execute(f'DROP TRIGGER IF EXISTS "{TRIGGER_PREFIX}_{operation}_{table}"')


def owns_schema_tables(using="default"):
    """Whether this connection's role may install triggers: the table owner (or a superuser).
    The server's runtime role never is (core.db_roles)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
            "AND tableowner = current_user) FROM pg_roles WHERE rolname = current_user"
        )
        return cursor.fetchone()[0]


def missing_append_only_triggers(using="default"):
    """Audit tables of this PostgreSQL database that lack their triggers."""
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    tables = [table for table in append_only_tables() if table in existing]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s AND t.tgenabled <> 'D'",
            [f"{TRIGGER_PREFIX}_row"],
        )
        protected = {row[0] for row in cursor.fetchall()}
    return [table for table in tables if table not in protected]


def refuse_audit_row_delete(sender, instance, **kwargs):
    raise AuditBypassError(f"{sender.__name__} rows are append-only: deleting {instance!r} is refused.")


def on_post_migrate(sender, using="default", **kwargs):
    if owns_schema_tables(using):
        install_append_only_triggers(using)
        return
    # A role that owns nothing (the runtime role, e.g. the test runner reusing a database the
    # owner migrated) cannot install triggers; it checks that the owner did.
    missing = missing_append_only_triggers(using)
    if missing:
        raise ImproperlyConfigured(
            f"Append-only triggers missing or disabled on {', '.join(missing)}: run migrate as the owner role."
        )


# --- Field-level differences between consecutive history rows -----------------------

HISTORY_TYPES = {"+": "created", "~": "changed", "-": "deleted"}
# Bookkeeping columns that every save touches; the trail shows who and when anyway. The
# chain columns belong to the history row itself (its link), not to the record's content.
UNTRACKED_FIELDS = {"updated_at", "updated_by", "chain_aggregate", "chain_seq", "chain_key_id", "chain_hash"}


def json_value(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def tracked_fields(history_model):
    return [
        field
        for field in history_model._meta.concrete_fields
        if not field.name.startswith("history_") and field.name not in UNTRACKED_FIELDS
    ]


def field_changes(previous, current, fields):
    """[{field, old, new}] for each tracked field that differs (all fields on creation)."""
    changes = []
    for field in fields:
        new = getattr(current, field.attname)
        old = getattr(previous, field.attname) if previous is not None else None
        if previous is None or old != new:
            if previous is None and new in (None, "", [], {}):
                continue
            changes.append({"field": field.name, "old": json_value(old), "new": json_value(new)})
    return changes


def history_entries(rows, previous=None):
    """Turn consecutive history rows (oldest first) into audit-trail entries."""
    entries = []
    fields = None
    for row in rows:
        if fields is None:
            fields = tracked_fields(type(row))
        entries.append(
            {
                "history_id": row.history_id,
                "action": HISTORY_TYPES.get(row.history_type, row.history_type),
                "at": row.history_date,
                "user": row.history_user.username if row.history_user_id else None,
                "reason": row.history_change_reason or "",
                "changes": field_changes(previous, row, fields),
            }
        )
        previous = row
    return entries
