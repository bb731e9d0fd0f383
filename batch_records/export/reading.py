"""Reading a batch for its export: the batch and its children in a fixed number of
queries, every signature in one, and the labels the record shows them by.

The number of queries does not depend on the size of the batch: children are read once
per model and signatures in one query.
"""

import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from batch_records.choices import BatchStatus
from batch_records.models import (
    BatchDeviation,
    BatchEquipment,
    BatchMaterial,
    BatchRecord,
    BatchStep,
    MasterBatchRecord,
)
from core.models import Signature

# The records of a batch, in the order the document shows them: (model, kind, lookup to the batch).
RECORDS = (
    (BatchRecord, "batch", "id"),
    (BatchStep, "step", "batch_id"),
    (BatchMaterial, "material", "batch_id"),
    (BatchEquipment, "equipment", "batch_id"),
    (BatchDeviation, "deviation", "batch_id"),
)


# --- values ---------------------------------------------------------------------------


def utc(value):
    """An ISO 8601 UTC timestamp ("2026-03-01T08:15:00Z"), or None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def decimal_text(value):
    return None if value is None else str(value)


def person(user):
    """Who, as printed in the record: username and full name (21 CFR 11.50(a))."""
    if user is None:
        return None
    return {"username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def release_state(status):
    """The banner of the document: only a released batch reads as released."""
    if status == BatchStatus.RELEASED:
        return "RELEASED"
    return f"NOT RELEASED — status {status}"


def export_filename(batch_id, extension="pdf"):
    return f"{batch_id}-executed-batch-record.{extension}"


# --- reading the batch: a fixed number of queries -------------------------------------


def load(batch_pk):
    batch = BatchRecord.objects.select_related(
        "mbr", "mbr__approved_by", "mbr__author", "site", "released_by", "reviewed_by"
    ).get(pk=batch_pk)
    steps = list(BatchStep.objects.filter(batch_id=batch.pk).select_related("operator", "verifier"))
    materials = list(
        BatchMaterial.objects.filter(batch_id=batch.pk).select_related("dispensed_by", "verified_by", "consumed_by")
    )
    equipment = list(
        BatchEquipment.objects.filter(batch_id=batch.pk).select_related(
            "equipment", "started_by", "ended_by", "calibration_verified_by", "cleaning_verified_by"
        )
    )
    deviations = list(
        BatchDeviation.objects.filter(batch_id=batch.pk)
        .select_related("batch_step", "batch_material", "linked_deviation", "linked_capa", "resolved_by", "closed_by")
        .order_by("created_at", "id")
    )
    return batch, steps, materials, equipment, deviations


def signatures(batch):
    """Every signature of the batch, its children and its MBR, in one query."""
    types = ContentType.objects.get_for_models(MasterBatchRecord, *(model for model, _, _ in RECORDS))
    condition = Q(content_type=types[MasterBatchRecord], object_id=batch.mbr_id)
    for model, _, lookup in RECORDS:
        ids = model.objects.filter(**{lookup: batch.pk}).values("pk")
        condition |= Q(content_type=types[model], object_id__in=ids)
    by_type = {types[model].pk: model for model in types}
    rows = Signature.objects.filter(condition).order_by("signed_at", "id")
    return [(by_type[signature.content_type_id], signature) for signature in rows]


# --- labels ---------------------------------------------------------------------------


def _step_label(step):
    return f"Step {step.step_number}"


def material_label(material):
    return f"Material {material.material_code} (line {material.line_number})"


def _equipment_label(usage):
    if usage.equipment_id and getattr(usage, "equipment", None) is not None:
        name = f"{usage.equipment.equipment_id} {usage.equipment_name or usage.equipment.name}"
    else:
        name = usage.equipment_name or usage.equipment_id_manual or f"#{usage.pk}"
    return f"Equipment {name.strip()}"


class Labels:
    """Human labels of the records in the document, and of the ids the audit trail shows
    in foreign-key fields (users, steps, the MBR...), so that it reads without lookups."""

    def __init__(self, batch, steps, materials, equipment, deviations):
        self.records = {(BatchRecord, batch.pk): batch.batch_id}
        self.records.update({(BatchStep, s.pk): _step_label(s) for s in steps})
        self.records.update({(BatchMaterial, m.pk): material_label(m) for m in materials})
        self.records.update({(BatchEquipment, e.pk): _equipment_label(e) for e in equipment})
        self.records.update({(BatchDeviation, d.pk): d.deviation_id for d in deviations})
        self.references = {
            BatchRecord: {batch.pk: batch.batch_id},
            MasterBatchRecord: {batch.mbr_id: f"{batch.mbr.mbr_id} v{batch.mbr.version}"},
            type(batch.site): {batch.site_id: batch.site.code},
            BatchStep: {s.pk: _step_label(s) for s in steps},
            BatchMaterial: {m.pk: material_label(m) for m in materials},
        }
        for usage in equipment:
            if usage.equipment is not None:
                self.references.setdefault(type(usage.equipment), {})[usage.equipment_id] = usage.equipment.equipment_id
        for deviation in deviations:
            for related in (deviation.linked_deviation, deviation.linked_capa):
                if related is not None:
                    self.references.setdefault(type(related), {})[related.pk] = related.display_id

    def record(self, model, row):
        label = self.records.get((model, row.id))
        if label is not None:
            return label
        # A child no longer present (removed with a pending batch): label it from its history.
        if model is BatchStep:
            return _step_label(row)
        if model is BatchMaterial:
            return material_label(row)
        if model is BatchDeviation:
            return row.deviation_id
        if model is BatchRecord:
            return row.batch_id
        return f"Equipment {row.equipment_name or row.equipment_id_manual or '#' + str(row.id)}"
