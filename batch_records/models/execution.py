"""What happens around the steps of a batch: deviations, materials, equipment use."""

from django.conf import settings
from django.db import models

from batch_records.choices import BatchDeviationStatus, DeviationType, EquipmentUsageStatus, MaterialStatus
from core.models import AuditedModel, SignableModel


class BatchDeviation(SignableModel, AuditedModel):
    """A deviation that happened in one batch (21 CFR 211.192): blocks release until resolved."""

    site_lookup = "batch__site"
    # Its audit rows are links in the chain of its batch's aggregate (core.chain).
    audit_aggregate = "batch"

    number_field = "deviation_id"
    number_prefix = "BD"
    signed_fields = (
        "deviation_id",
        "batch",
        "batch_step",
        "deviation_type",
        "description",
        "impact_assessment",
        "immediate_action",
        "root_cause",
        "linked_deviation",
        "linked_capa",
    )

    deviation_id = models.CharField("deviation ID", max_length=20, unique=True, editable=False)
    batch = models.ForeignKey("batch_records.BatchRecord", on_delete=models.CASCADE, related_name="deviations")
    batch_step = models.ForeignKey(
        "batch_records.BatchStep", on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    batch_material = models.ForeignKey(
        "batch_records.BatchMaterial", on_delete=models.PROTECT, null=True, blank=True, related_name="deviations"
    )
    deviation_type = models.CharField(max_length=30, choices=DeviationType.choices)
    description = models.TextField()
    impact_assessment = models.TextField(blank=True)
    immediate_action = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    linked_deviation = models.ForeignKey(
        "deviations.Deviation", on_delete=models.PROTECT, null=True, blank=True, related_name="batch_deviations"
    )
    linked_capa = models.ForeignKey(
        "capa.CAPA", on_delete=models.PROTECT, null=True, blank=True, related_name="batch_deviations"
    )
    status = models.CharField(
        max_length=20, choices=BatchDeviationStatus.choices, default=BatchDeviationStatus.OPEN, db_index=True
    )
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    resolution_date = models.DateTimeField(null=True, blank=True, editable=False)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("investigate_batchdeviation", "Can start investigating a batch deviation"),
            ("resolve_batchdeviation", "Can resolve a batch deviation"),
            ("close_batchdeviation", "Can close a batch deviation"),
        ]

    def __str__(self):
        return self.deviation_id


class BatchMaterial(SignableModel, AuditedModel):
    """One bill-of-materials line as dispensed and consumed in a batch (21 CFR 211.101)."""

    site_lookup = "batch__site"
    # Its audit rows are links in the chain of its batch's aggregate (core.chain).
    audit_aggregate = "batch"

    # What the dispenser and the second-person verifier attest (21 CFR 211.101(c), (d)). The
    # quantity used is recorded later by an unsigned action: covering it would void both
    # signatures at every consumption.
    signed_fields = (
        "batch",
        "material_code",
        "material_name",
        "lot_number",
        "quantity_required",
        "quantity_dispensed",
        "unit_of_measure",
    )

    batch = models.ForeignKey("batch_records.BatchRecord", on_delete=models.CASCADE, related_name="materials")
    line_number = models.PositiveIntegerField(default=1)
    material_code = models.CharField(max_length=50, db_index=True)
    material_name = models.CharField(max_length=255)
    lot_number = models.CharField(max_length=50, blank=True, db_index=True)
    quantity_required = models.DecimalField(max_digits=16, decimal_places=4)
    quantity_dispensed = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True, editable=False)
    quantity_used = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True, editable=False)
    unit_of_measure = models.CharField(max_length=20)
    # The same quantities in the unit the material is kept in, where drawn from inventory
    # lots (core.units converts them exactly): 1.5 g dispensed of a material kept in kg
    # took 0.0015 kg from the lots.
    stock_unit_of_measure = models.CharField(max_length=20, blank=True, editable=False)
    stock_quantity_dispensed = models.DecimalField(
        max_digits=16, decimal_places=4, null=True, blank=True, editable=False
    )
    stock_quantity_used = models.DecimalField(max_digits=16, decimal_places=4, null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=20, choices=MaterialStatus.choices, default=MaterialStatus.PENDING, db_index=True
    )
    dispensed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    dispensed_at = models.DateTimeField(null=True, blank=True, editable=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    consumed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    consumed_at = models.DateTimeField(null=True, blank=True, editable=False)
    returned_at = models.DateTimeField(null=True, blank=True, editable=False)
    return_reason = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["batch_id", "line_number", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity_required__gt=0), name="material_required_positive"),
            models.CheckConstraint(
                condition=models.Q(quantity_dispensed__isnull=True) | models.Q(quantity_dispensed__gt=0),
                name="material_dispensed_positive",
            ),
            models.CheckConstraint(
                condition=models.Q(quantity_used__isnull=True) | models.Q(quantity_used__gte=0),
                name="material_used_not_negative",
            ),
        ]
        permissions = [
            ("dispense_batchmaterial", "Can dispense a batch material"),
            ("verify_batchmaterial", "Can verify a dispensed batch material"),
            ("consume_batchmaterial", "Can record consumption of a batch material"),
            ("return_batchmaterial", "Can return a batch material"),
        ]

    def __str__(self):
        return f"{self.batch.batch_id} {self.material_code}"


class BatchEquipment(SignableModel, AuditedModel):
    """The equipment use log of a batch (21 CFR 211.182)."""

    site_lookup = "batch__site"
    # Its audit rows are links in the chain of its batch's aggregate (core.chain).
    audit_aggregate = "batch"

    signed_fields = (
        "batch",
        "equipment",
        "equipment_name",
        "equipment_id_manual",
        "usage_start",
        "usage_end",
        "calibration_verified",
        "cleaning_verified",
    )

    batch = models.ForeignKey("batch_records.BatchRecord", on_delete=models.CASCADE, related_name="equipment")
    equipment = models.ForeignKey(
        "equipment.Equipment", on_delete=models.PROTECT, null=True, blank=True, related_name="batch_usages"
    )
    equipment_name = models.CharField(max_length=200, blank=True)
    equipment_id_manual = models.CharField(max_length=50, blank=True)
    status = models.CharField(
        max_length=20, choices=EquipmentUsageStatus.choices, default=EquipmentUsageStatus.NOT_STARTED, db_index=True
    )
    usage_start = models.DateTimeField(null=True, blank=True, editable=False)
    usage_end = models.DateTimeField(null=True, blank=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    calibration_verified = models.BooleanField(default=False, editable=False)
    calibration_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    calibration_verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    cleaning_verified = models.BooleanField(default=False, editable=False)
    cleaning_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    cleaning_verified_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["batch_id", "id"]
        verbose_name = "batch equipment usage"
        verbose_name_plural = "batch equipment"
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(equipment__isnull=True, equipment_name=""),
                name="batch_equipment_identified",
            ),
        ]
        permissions = [
            ("start_usage_batchequipment", "Can start equipment usage in a batch"),
            ("end_usage_batchequipment", "Can end equipment usage in a batch"),
            ("verify_calibration_batchequipment", "Can verify equipment calibration for a batch"),
            ("verify_cleaning_batchequipment", "Can verify equipment cleaning for a batch"),
        ]

    def __str__(self):
        return f"{self.batch.batch_id} {self.equipment_name or self.equipment_id_manual}"
