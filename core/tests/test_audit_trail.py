"""SPEC §5: history on every write, append-only in the database itself, no bypass."""

import pytest
from django.db import DatabaseError, connection, transaction

from core.audit import append_only_tables
from core.exceptions import AuditBypassError
from documents.models import Document
from documents.tests.factories import DocumentFactory
from users.models import Site

pytestmark = pytest.mark.django_db


def test_create_and_update_write_history_with_user_and_reason(author, site):
    document = Document(title="SOP 1", version="1.0", site=site)
    document.save(actor=author, reason="New SOP")
    document.title = "SOP 1 (revised)"
    document.save(actor=author, reason="Typo in the title")

    rows = list(document.history.order_by("history_id"))
    assert [row.history_type for row in rows] == ["+", "~"]
    assert all(row.history_user == author for row in rows)
    assert [row.history_change_reason for row in rows] == ["New SOP", "Typo in the title"]
    assert rows[0].title == "SOP 1"
    assert rows[1].title == "SOP 1 (revised)"
    assert document.created_by == author
    assert document.updated_by == author


def test_change_reason_is_not_cut_at_100_characters(author):
    reason = "r" * 500
    document = DocumentFactory()
    document.save(actor=author, reason=reason)
    assert document.history.latest("history_id").history_change_reason == reason


def _history_table_and_id():
    document = DocumentFactory()
    history = document.history.first()
    return history._meta.db_table, history.history_id


def test_raw_update_on_a_history_row_is_refused_by_the_database():
    table, history_id = _history_table_and_id()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET title = 'forged' WHERE history_id = %s", [history_id])


def test_raw_delete_on_a_history_row_is_refused_by_the_database():
    table, history_id = _history_table_and_id()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE history_id = %s", [history_id])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE history_id = %s", [history_id])
        assert cursor.fetchone()[0] == 1


@pytest.mark.postgres_only
def test_truncate_of_a_history_table_is_refused_on_postgresql():
    table, _ = _history_table_and_id()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {table}")


def test_every_history_table_and_the_signature_table_carry_the_triggers():
    tables = append_only_tables()
    assert "core_signature" in tables
    assert "users_historicaluser_groups" in tables  # role membership history too
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT c.relname, COUNT(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname LIKE 'ebr_append_only%%' GROUP BY c.relname"
            )
            counts = dict(cursor.fetchall())
        else:
            cursor.execute("SELECT tbl_name, COUNT(*) FROM sqlite_master WHERE type = 'trigger' GROUP BY tbl_name")
            counts = dict(cursor.fetchall())
    assert {table: counts.get(table) for table in tables} == dict.fromkeys(tables, 2)


def test_guarded_queryset_refuses_every_bulk_write(site):
    with pytest.raises(AuditBypassError):
        Site.objects.filter(pk=site.pk).update(name="bypass")
    with pytest.raises(AuditBypassError):
        Site.objects.bulk_update([site], ["name"])
    with pytest.raises(AuditBypassError):
        Site.objects.bulk_create([Site(code="X", name="X")])
    with pytest.raises(AuditBypassError):
        Site.objects.filter(pk=site.pk).delete()
    site.refresh_from_db()
    assert site.name == "Main plant"


def test_related_managers_are_guarded_too(site, operator):
    with pytest.raises(AuditBypassError):
        site.deviations.update(title="bypass")


def test_deleting_a_user_is_refused(operator):
    from core.exceptions import Conflict

    with pytest.raises(Conflict):
        operator.delete()
