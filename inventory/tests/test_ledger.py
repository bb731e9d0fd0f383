"""The lot ledger: a lot's quantity on hand is always the sum of its movements, whatever
happened (receipt, dispense, return, adjustment), and the ledger is append-only in the ORM
and in the database."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum

from batch_records.services.materials import dispense_material, return_material
from core.exceptions import AuditBypassError
from inventory import services
from inventory.models import Lot, LotMovement
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def assert_ledger_balanced():
    for lot in Lot.objects.all():
        total = LotMovement.objects.filter(lot=lot).aggregate(total=Sum("quantity"))["total"] or Decimal(0)
        assert lot.quantity_on_hand == total, lot.lot_id
        last = LotMovement.objects.filter(lot=lot).order_by("id").last()
        assert last is None or last.balance_after == lot.quantity_on_hand


def test_quantity_on_hand_is_the_sum_of_movements_after_dispense_return_and_adjust(
    stock, make_started_batch, operator, records_admin
):
    first = stock("API-001", "30", days_to_expiry=10)
    second = stock("API-001", "45", days_to_expiry=20)
    stock("EXC-002", "100")
    assert_ledger_balanced()

    batch = make_started_batch()
    api_line = batch.materials.get(material_code="API-001")
    exc_line = batch.materials.get(material_code="EXC-002")
    dispense_material(api_line, actor=operator, quantity=Decimal("50"), auto=True, password=PASSWORD)
    dispense_material(exc_line, actor=operator, quantity=Decimal("25"), auto=True, password=PASSWORD)
    assert_ledger_balanced()
    return_material(api_line, actor=operator, reason="Wrong grade")
    assert_ledger_balanced()
    services.adjust_lot(first, actor=records_admin, quantity=Decimal("-1.5"), reason="Spill at weighing")
    services.adjust_lot(second, actor=records_admin, quantity=Decimal("0.25"), reason="Cycle count")
    assert_ledger_balanced()
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.quantity_on_hand, second.quantity_on_hand) == (Decimal("28.5"), Decimal("45.25"))
    kinds = list(LotMovement.objects.filter(lot=first).order_by("id").values_list("kind", "quantity"))
    assert kinds == [
        ("receipt", Decimal("30")),
        ("consumption", Decimal("-30")),
        ("return", Decimal("30")),
        ("adjustment", Decimal("-1.5")),
    ]


def test_every_quantity_change_has_a_history_row_of_the_lot(stock, records_admin):
    lot = stock("API-001", "10")
    before = lot.history.count()
    services.adjust_lot(lot, actor=records_admin, quantity=Decimal("2"), reason="Found a drum")
    row = lot.history.order_by("history_id").last()
    assert lot.history.count() == before + 1
    assert (row.quantity_on_hand, row.history_user, row.history_change_reason) == (
        Decimal("12"),
        records_admin,
        "Found a drum",
    )


def test_the_database_refuses_a_negative_quantity_on_hand(stock):
    lot = stock("API-001", "10")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Lot._meta.db_table} SET quantity_on_hand = -1 WHERE id = %s", [lot.pk])


def test_the_database_refuses_update_and_delete_of_a_movement(stock):
    lot = stock("API-001", "10")
    movement = LotMovement.objects.get(lot=lot)
    table = LotMovement._meta.db_table
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET quantity = 1000 WHERE id = %s", [movement.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [movement.pk])
    movement.refresh_from_db()
    assert movement.quantity == Decimal("10")


def test_the_orm_refuses_to_change_or_delete_movements(stock):
    lot = stock("API-001", "10")
    movement = LotMovement.objects.get(lot=lot)
    with pytest.raises(AuditBypassError):
        LotMovement.objects.filter(pk=movement.pk).update(quantity=5)
    with pytest.raises(AuditBypassError):
        LotMovement.objects.filter(pk=movement.pk).delete()
    with pytest.raises(AuditBypassError):
        LotMovement.objects.bulk_create([LotMovement(lot=lot, kind="receipt", quantity=1, balance_after=11)])
    movement.reason = "rewritten"
    with pytest.raises(AuditBypassError):
        movement.save()
    with pytest.raises(AuditBypassError):
        movement.delete()


def test_the_movement_table_is_protected_by_the_append_only_triggers():
    from core.audit import append_only_tables

    assert LotMovement._meta.db_table in append_only_tables()


def test_adjusting_below_zero_is_409_and_changes_nothing(stock, records_admin):
    from core.exceptions import Conflict

    lot = stock("API-001", "10")
    with pytest.raises(Conflict):
        services.adjust_lot(lot, actor=records_admin, quantity=Decimal("-10.0001"), reason="Count")
    lot.refresh_from_db()
    assert lot.quantity_on_hand == Decimal("10")
    assert LotMovement.objects.filter(lot=lot).count() == 1


def test_a_movement_never_drives_a_lot_below_zero(stock, operator):
    from core.exceptions import Conflict

    lot = stock("API-001", "10")
    with pytest.raises(Conflict):
        services.record_movement(lot, kind="consumption", quantity=Decimal("-11"), actor=operator)
    assert_ledger_balanced()
