"""Least privilege (SPEC §5): the server's runtime role owns nothing and holds no UPDATE,
DELETE, TRUNCATE, TRIGGER or DDL on the audit tables — the database refuses, whatever the code.

When the suite runs as the runtime role (.ci/run), the tests act through its own connection;
when it runs as the owner or a superuser, they create a runtime role inside the test's
transaction, grant it as `grant_runtime_role` does and act with SET ROLE.
"""

import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from core.audit import PG_FUNCTION, TRIGGER_PREFIX, owns_schema_tables
from core.db_roles import (
    AUDIT_TABLE_PRIVILEGES,
    check_runtime_role,
    runtime_privileges,
)
from core.models import Signature
from core.testing import acting_as_runtime_role
from documents.models import Document
from documents.tests.factories import DocumentFactory
from inventory.models import LotMovement

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db]

AUDIT_TABLES = [
    Document.history.model._meta.db_table,
    Signature._meta.db_table,
    LotMovement._meta.db_table,
]


@pytest.fixture
def runtime_role():
    """The name of a role acting as the server does, the connection switched to it."""
    with acting_as_runtime_role() as role:
        yield role


def refused(sql, params=None):
    with pytest.raises(DatabaseError) as error, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(error.value)


def test_runtime_role_writes_records_and_their_history(runtime_role, site):
    document = Document(title="SOP under the runtime role", version="1.0", site=site)
    document.save()
    document.title = "SOP under the runtime role, revised"
    document.save(reason="Typo")
    assert document.history.count() == 2


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_runtime_role_cannot_disable_the_append_only_trigger(runtime_role, table):
    assert "must be owner" in refused(f"ALTER TABLE {table} DISABLE TRIGGER {TRIGGER_PREFIX}_row")
    assert "must be owner" in refused(f"ALTER TABLE {table} DISABLE TRIGGER ALL")
    refused(f"DROP TRIGGER {TRIGGER_PREFIX}_row ON {table}")


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_runtime_role_cannot_alter_or_drop_an_audit_table(runtime_role, table):
    assert "must be owner" in refused(f"ALTER TABLE {table} ADD COLUMN forged text")
    assert "must be owner" in refused(f"DROP TABLE {table}")


@pytest.mark.parametrize("table", AUDIT_TABLES)
def test_runtime_role_cannot_update_delete_or_truncate_audit_rows(runtime_role, table):
    # Refused by privilege, before the trigger is reached.
    assert "permission denied" in refused(f"UPDATE {table} SET id = id")
    assert "permission denied" in refused(f"DELETE FROM {table}")
    assert "permission denied" in refused(f"TRUNCATE {table}")


def test_runtime_role_cannot_update_a_history_row_it_wrote(runtime_role):
    document = DocumentFactory()
    history = document.history.get()
    table = history._meta.db_table
    assert "permission denied" in refused(
        f"UPDATE {table} SET title = 'forged' WHERE history_id = %s", [history.history_id]
    )
    assert Document.history.get(history_id=history.history_id).title == document.title


def test_runtime_role_cannot_replace_the_trigger_function_or_create_objects(runtime_role):
    refused(f"CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN END $$")
    refused(f"DROP FUNCTION {PG_FUNCTION}()")
    refused("CREATE TABLE forged (id int)")
    record_table = Document._meta.db_table
    refused(f"CREATE TRIGGER forged BEFORE UPDATE ON {record_table} FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()")


def test_runtime_role_is_least_privilege_as_declared(runtime_role):
    assert check_runtime_role(runtime_role) == []


def test_declaration_gives_audit_tables_only_select_and_insert():
    privileges = runtime_privileges()
    for table in AUDIT_TABLES:
        assert privileges[table] == AUDIT_TABLE_PRIVILEGES


@pytest.fixture
def granted_role():
    if not owns_schema_tables():
        pytest.skip("granting needs the owner role")
    role = f"ebr_test_runtime_{uuid.uuid4().hex[:8]}"
    call_command("grant_runtime_role", role, "--create")
    return role


def test_grant_command_is_idempotent_and_check_passes(granted_role):
    call_command("grant_runtime_role", granted_role)
    call_command("grant_runtime_role", granted_role, "--check")


def test_check_reports_an_excess_privilege(granted_role):
    table = Document.history.model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"GRANT UPDATE ON {table} TO {granted_role}")
    with pytest.raises(CommandError):
        call_command("grant_runtime_role", granted_role, "--check")
    assert f"{table}: {granted_role} holds UPDATE (not needed)." in check_runtime_role(granted_role)
    # Re-running the grant puts it right.
    call_command("grant_runtime_role", granted_role)
    assert check_runtime_role(granted_role) == []


def test_check_refuses_a_role_that_owns_tables():
    if not owns_schema_tables():
        pytest.skip("needs the owner role")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        owner = cursor.fetchone()[0]
    assert any("owns" in problem or "SUPER" in problem for problem in check_runtime_role(owner))
