"""Materials, their lots, and the lot ledger (21 CFR 211.84, 211.87, 211.184).

A lot's `quantity_on_hand` is the sum of its ledger movements: it changes only through
`inventory.services.record_movement`, which locks the lot row, appends the movement and
saves the lot in one transaction. The ledger itself is append-only, in the ORM and in the
database (core.audit installs UPDATE/DELETE-refusing triggers on its table).
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.exceptions import AuditBypassError
from core.models import AppendOnlyQuerySet, AuditChainFields, AuditedModel, SignableModel

from .choices import LotStatus, MovementKind


class Material(AuditedModel):
    """A material kept in stock, known by the code the bills of materials use."""

    code = models.CharField(max_length=50, unique=True)
    name = models.CharField(max_length=255)
    unit_of_measure = models.CharField(max_length=20)
    # Used to cost a consumption that drew from no lot (a free-text lot, where allowed).
    standard_cost = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    # g/mL (= kg/L): what lets a bill of materials in litres draw a material kept in kg,
    # or the other way round (core.units). None: mass and volume do not convert.
    density = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(standard_cost__gte=0), name="material_standard_cost_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(density__isnull=True) | models.Q(density__gt=0), name="material_density_positive"
            ),
        ]

    def __str__(self):
        return f"{self.code} {self.name}"


class Lot(SignableModel, AuditedModel):
    """One received (or produced) lot of a material at a site. Only a released lot that has
    not expired may be dispensed (21 CFR 211.84(a), 211.87)."""

    site_lookup = "site"
    number_field = "lot_id"
    number_prefix = "LOT"
    # What QA attests at release or rejection: identity, origin and shelf life. The quantity
    # moves with every dispense and the price is commercial; neither is signed.
    signed_fields = ("lot_id", "material", "supplier", "supplier_lot", "site", "expiry_date", "produced_by_batch")

    lot_id = models.CharField("lot ID", max_length=20, unique=True, editable=False)
    material = models.ForeignKey(Material, on_delete=models.PROTECT, related_name="lots")
    supplier = models.CharField(max_length=200)
    supplier_lot = models.CharField(max_length=100, blank=True, db_index=True)
    site = models.ForeignKey("users.Site", on_delete=models.PROTECT, related_name="lots")
    # Null only for a finished-goods lot made at batch release (its expiry is set elsewhere).
    expiry_date = models.DateField(null=True, blank=True, db_index=True)
    status = models.CharField(max_length=20, choices=LotStatus.choices, default=LotStatus.QUARANTINE, db_index=True)
    quantity_on_hand = models.DecimalField(max_digits=16, decimal_places=4, default=0, editable=False)
    unit_price = models.DecimalField(max_digits=14, decimal_places=4, default=0)
    produced_by_batch = models.ForeignKey(
        "batch_records.BatchRecord",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="finished_goods_lots",
        editable=False,
    )
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    released_at = models.DateTimeField(null=True, blank=True, editable=False)
    disposition_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["material", "site", "status", "expiry_date"], name="lot_fefo_lookup")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity_on_hand__gte=0), name="lot_quantity_on_hand_not_negative"
            ),
            models.CheckConstraint(condition=models.Q(unit_price__gte=0), name="lot_unit_price_not_negative"),
        ]
        permissions = [
            ("release_lot", "Can release a lot for use"),
            ("reject_lot", "Can reject a lot"),
            ("expire_lot", "Can mark a lot expired"),
            ("adjust_lot", "Can adjust the quantity of a lot"),
        ]

    def __str__(self):
        return f"{self.lot_id} ({self.material.code})"


class BatchMaterialLot(AuditedModel):
    """How much of one lot a batch material line drew at dispense, in dispense order."""

    site_lookup = "lot__site"
    # Its audit rows are links in the chain of its batch material's aggregate (core.chain).
    audit_aggregate = "batch_material"

    batch_material = models.ForeignKey(
        "batch_records.BatchMaterial", on_delete=models.PROTECT, related_name="lot_allocations"
    )
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="allocations")
    sequence = models.PositiveIntegerField(editable=False)
    quantity = models.DecimalField(max_digits=16, decimal_places=4, editable=False)
    quantity_returned = models.DecimalField(max_digits=16, decimal_places=4, default=0, editable=False)

    class Meta:
        ordering = ["batch_material_id", "sequence"]
        verbose_name = "batch material lot"
        constraints = [
            models.UniqueConstraint(fields=["batch_material", "lot"], name="batch_material_lot_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="batch_material_lot_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(quantity_returned__gte=0) & models.Q(quantity_returned__lte=models.F("quantity")),
                name="batch_material_lot_returned_within_drawn",
            ),
        ]

    def __str__(self):
        return f"{self.lot.lot_id}: {self.quantity}"


class LotMovement(AuditChainFields):
    """One entry of a lot's ledger: a signed quantity in or out, and why."""

    # core.audit installs triggers refusing UPDATE and DELETE on this table.
    append_only = True
    site_lookup = "lot__site"
    # Its audit rows are links in the chain of its lot's aggregate (core.chain).
    audit_aggregate = "lot"

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=20, choices=MovementKind.choices, db_index=True)
    quantity = models.DecimalField(max_digits=16, decimal_places=4)
    balance_after = models.DecimalField(max_digits=16, decimal_places=4)
    batch = models.ForeignKey(
        "batch_records.BatchRecord", on_delete=models.PROTECT, null=True, blank=True, related_name="lot_movements"
    )
    batch_material = models.ForeignKey(
        "batch_records.BatchMaterial", on_delete=models.PROTECT, null=True, blank=True, related_name="lot_movements"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(quantity=0), name="lot_movement_quantity_not_zero"),
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="lot_movement_balance_not_negative"),
            # The sign follows the kind: stock comes in by receipt, production and return,
            # leaves by consumption; an adjustment goes either way.
            models.CheckConstraint(
                condition=models.Q(kind=MovementKind.ADJUSTMENT)
                | models.Q(kind=MovementKind.CONSUMPTION, quantity__lt=0)
                | models.Q(
                    kind__in=[MovementKind.RECEIPT, MovementKind.PRODUCTION, MovementKind.RETURN], quantity__gt=0
                ),
                name="lot_movement_sign_follows_kind",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.quantity:+} (movement {self.pk})"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditBypassError("The lot ledger is append-only: a movement is never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditBypassError("The lot ledger is append-only: a movement is never deleted.")


class LotReservation(AuditedModel):
    """Stock of a lot promised to one batch material line from the batch's start until it
    is dispensed (or the batch is cancelled, aborted or completed): what other batches may
    draw or be shown as available is the quantity on hand less every open reservation."""

    site_lookup = "lot__site"
    # Chained with the batch it is promised to, like the lots a line drew.
    audit_aggregate = "batch_material"

    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="reservations")
    batch = models.ForeignKey(
        "batch_records.BatchRecord", on_delete=models.PROTECT, related_name="lot_reservations", editable=False
    )
    batch_material = models.ForeignKey(
        "batch_records.BatchMaterial", on_delete=models.PROTECT, related_name="lot_reservations", editable=False
    )
    # In the unit the material is kept in, like the lot's quantity on hand.
    quantity = models.DecimalField(max_digits=16, decimal_places=4, editable=False)
    # Still promised: `quantity` at the start, 0 once drawn or released (the history says which).
    quantity_open = models.DecimalField(max_digits=16, decimal_places=4, editable=False)

    class Meta:
        ordering = ["batch_material_id", "lot_id"]
        indexes = [models.Index(fields=["lot", "quantity_open"], name="lot_reservation_open")]
        constraints = [
            models.UniqueConstraint(fields=["batch_material", "lot"], name="lot_reservation_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="lot_reservation_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(quantity_open__gte=0) & models.Q(quantity_open__lte=models.F("quantity")),
                name="lot_reservation_open_within_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.lot.lot_id}: {self.quantity_open} of {self.quantity} reserved"
