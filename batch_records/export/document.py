"""The executed batch record as one document of JSON values.

`build_batch_export` gathers everything the batch record holds into a plain dict of JSON
values (strings for quantities and times, never floats): the header, the master batch
record it was made from and its approval, materials, equipment use, every step with its
values and limits, every signature (and whether it still matches its record), every
deviation and the whole audit trail of the batch and its children, with values changed
after first entry shown with their original value. The JSON export is this dict; the PDF
prints it (`printed`, `pdf`), so both forms always say the same thing.
"""

import logging
from contextlib import contextmanager

from django.db import connection, transaction
from django.utils import timezone

from batch_records.choices import BatchStatus, StepStatus
from batch_records.models import (
    BatchDeviation,
    BatchEquipment,
    BatchMaterial,
    BatchRecord,
    BatchStep,
    MasterBatchRecord,
)
from batch_records.specifications import evaluate_specifications
from core.audit import json_value
from core.verification import verify_record

from . import reading
from .reading import RECORDS, Labels, decimal_text, material_label, person, release_state, utc
from .trail import audit_trail

logger = logging.getLogger("ebr.export")

FORMAT_VERSION = 1
CORRECTED = "CORRECTED"

# --- sections -------------------------------------------------------------------------


def _signature_entry(kind, label, signature, valid):
    return {
        "id": signature.pk,
        "record_type": kind,
        "record": label,
        "meaning": signature.meaning,
        "signer": signature.signer_username,
        "signer_name": signature.signer_full_name,
        "signed_at": utc(signature.signed_at),
        "comment": signature.comment,
        "record_status": signature.record_status,
        "content_hash": signature.content_hash,
        "valid": valid,
    }


def _header(batch, *, exported_at, exported_by):
    return {
        "batch_id": batch.batch_id,
        "batch_number": batch.batch_number,
        "lot_number": batch.lot_number,
        "product_code": batch.mbr.product_code,
        "product_name": batch.mbr.product_name,
        "site": {"code": batch.site.code, "name": batch.site.name},
        "production_line": batch.production_line,
        "status": batch.status,
        "released": batch.status == BatchStatus.RELEASED,
        "release_state": release_state(batch.status),
        "quantity_planned": decimal_text(batch.quantity_planned),
        "quantity_produced": decimal_text(batch.quantity_produced),
        "quantity_rejected": decimal_text(batch.quantity_rejected),
        "yield_percentage": decimal_text(batch.yield_percentage),
        "yield_limit_min": decimal_text(batch.yield_limit_min),
        "yield_limit_max": decimal_text(batch.yield_limit_max),
        "has_deviations": batch.has_deviations,
        "review_by_exception": batch.review_by_exception,
        "created_at": utc(batch.created_at),
        "started_at": utc(batch.started_at),
        "completed_at": utc(batch.completed_at),
        "reviewed_by": person(batch.reviewed_by),
        "reviewed_at": utc(batch.reviewed_at),
        "released_by": person(batch.released_by),
        "released_at": utc(batch.release_date),
        "disposition_reason": batch.disposition_reason,
        "exported_at": utc(exported_at),
        "exported_by": person(exported_by),
    }


def _mbr_section(mbr, signatures):
    return {
        "mbr_id": mbr.mbr_id,
        "version": mbr.version,
        "title": mbr.title,
        "product_code": mbr.product_code,
        "product_name": mbr.product_name,
        "status": mbr.status,
        "effective_date": utc(mbr.effective_date),
        "author": person(mbr.author),
        "approved_by": person(mbr.approved_by),
        "approval_date": utc(mbr.approval_date),
        "signatures": signatures,
    }


def _material_entry(material):
    return {
        "line_number": material.line_number,
        "material_code": material.material_code,
        "material_name": material.material_name,
        "lot_number": material.lot_number,
        "unit_of_measure": material.unit_of_measure,
        "quantity_required": decimal_text(material.quantity_required),
        "quantity_dispensed": decimal_text(material.quantity_dispensed),
        "quantity_used": decimal_text(material.quantity_used),
        # Where the line's unit differs from the unit the material is kept in: what left the lots.
        "stock_unit_of_measure": material.stock_unit_of_measure,
        "stock_quantity_dispensed": decimal_text(material.stock_quantity_dispensed),
        "stock_quantity_used": decimal_text(material.stock_quantity_used),
        "status": material.status,
        "dispensed_by": person(material.dispensed_by),
        "dispensed_at": utc(material.dispensed_at),
        "verified_by": person(material.verified_by),
        "verified_at": utc(material.verified_at),
        "consumed_by": person(material.consumed_by),
        "consumed_at": utc(material.consumed_at),
        "returned_at": utc(material.returned_at),
        "return_reason": material.return_reason,
    }


def _equipment_entry(usage):
    linked = usage.equipment
    return {
        "equipment_id": linked.equipment_id if linked is not None else None,
        "equipment_name": usage.equipment_name or (linked.name if linked is not None else ""),
        "equipment_id_manual": usage.equipment_id_manual,
        "status": usage.status,
        "usage_start": utc(usage.usage_start),
        "usage_end": utc(usage.usage_end),
        "started_by": person(usage.started_by),
        "ended_by": person(usage.ended_by),
        "calibration_verified": usage.calibration_verified,
        "calibration_verified_by": person(usage.calibration_verified_by),
        "calibration_verified_at": utc(usage.calibration_verified_at),
        "cleaning_verified": usage.cleaning_verified,
        "cleaning_verified_by": person(usage.cleaning_verified_by),
        "cleaning_verified_at": utc(usage.cleaning_verified_at),
    }


def _data_fields(step):
    """Each recorded value beside its unit and limits, judged against them."""
    recorded = step.status in (StepStatus.COMPLETED, StepStatus.DEVIATED) or bool(step.actual_values)
    out_of_spec = (
        {excursion.field for excursion in evaluate_specifications(step.specifications, step.actual_values)}
        if recorded
        else set()
    )
    declared = [field.get("name") for field in step.required_data_fields]
    fields = []
    for field in step.required_data_fields:
        fields.append((field.get("name"), field.get("type"), field.get("unit", "")))
    fields.extend((name, None, "") for name in sorted(step.specifications or {}) if name not in declared)
    rows = []
    for name, kind, unit in fields:
        limits = (step.specifications or {}).get(name) or {}
        has_limit = limits.get("min") is not None or limits.get("max") is not None
        rows.append(
            {
                "name": name,
                "type": kind,
                "unit": unit or "",
                "value": step.actual_values.get(name),
                "min": json_value(limits.get("min")),
                "max": json_value(limits.get("max")),
                "within_spec": (name not in out_of_spec) if recorded and has_limit else None,
            }
        )
    return rows


def _step_entry(step, deviation_ids, corrections):
    original, changes = corrections.get(step.pk, (None, []))
    corrected = step.correction_count > 0 or bool(changes)
    return {
        "step_number": step.step_number,
        "instruction_text": step.instruction_text,
        "status": step.status,
        "requires_verification": step.requires_verification,
        "data_fields": _data_fields(step),
        "actual_values": step.actual_values,
        "specifications": step.specifications,
        "is_within_spec": step.is_within_spec,
        "started_at": utc(step.started_at),
        "completed_at": utc(step.completed_at),
        "performed_by": person(step.operator) if step.operator_signed_at else None,
        "performed_at": utc(step.operator_signed_at),
        "verified_by": person(step.verifier),
        "verified_at": utc(step.verifier_signed_at),
        "skip_reason": step.skip_reason,
        "deviation_notes": step.deviation_notes,
        "deviations": deviation_ids,
        "correction_count": step.correction_count,
        "corrected": corrected,
        "marker": CORRECTED if corrected else "",
        "original_values": original if corrected else None,
        "corrections": changes if corrected else [],
    }


def _deviation_entry(deviation):
    return {
        "deviation_id": deviation.deviation_id,
        "deviation_type": deviation.deviation_type,
        "status": deviation.status,
        "step_number": deviation.batch_step.step_number if deviation.batch_step else None,
        "material": material_label(deviation.batch_material) if deviation.batch_material else None,
        "description": deviation.description,
        "impact_assessment": deviation.impact_assessment,
        "immediate_action": deviation.immediate_action,
        "root_cause": deviation.root_cause,
        "resolution": {
            "resolved_by": person(deviation.resolved_by),
            "resolved_at": utc(deviation.resolution_date),
            "closed_by": person(deviation.closed_by),
            "closed_at": utc(deviation.closed_at),
        },
        "linked_deviation": deviation.linked_deviation.deviation_id if deviation.linked_deviation else None,
        "linked_capa": deviation.linked_capa.capa_id if deviation.linked_capa else None,
        "opened_at": utc(deviation.created_at),
    }


# --- the document ---------------------------------------------------------------------


@contextmanager
def _one_snapshot():
    """Every query of the export sees the database at one moment, so that a step completed
    meanwhile cannot appear signed but not performed: on PostgreSQL, a read-only
    repeatable-read transaction. Inside a caller's transaction, or on SQLite (where a read
    transaction would take the write lock, see settings), the queries run as they are."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def build_batch_export(batch, *, exported_by, exported_at=None):
    """The complete executed batch record of `batch` as a dict of JSON values."""
    exported_at = exported_at or timezone.now()
    with _one_snapshot():
        return _build(batch.pk, exported_by=exported_by, exported_at=exported_at)


def _build(batch_pk, *, exported_by, exported_at):
    batch, steps, materials, equipment, deviations = reading.load(batch_pk)
    labels = Labels(batch, steps, materials, equipment, deviations)
    records = {(BatchRecord, batch.pk): batch, (MasterBatchRecord, batch.mbr_id): batch.mbr}
    for model, rows in ((BatchStep, steps), (BatchMaterial, materials), (BatchEquipment, equipment)):
        records.update({(model, row.pk): row for row in rows})
    records.update({(BatchDeviation, row.pk): row for row in deviations})
    kinds = {model: kind for model, kind, _ in RECORDS}

    # 21 CFR 11.70: each signature is checked against its record as it stands now.
    hashes = {}
    mbr_signatures, signatures = [], []
    for model, signature in reading.signatures(batch):
        key = (model, signature.object_id)
        record = records.get(key)
        if key not in hashes:
            hashes[key] = record.content_hash() if record is not None else None
        valid = signature.is_valid_for(hashes[key])
        if model is MasterBatchRecord:
            label = f"{batch.mbr.mbr_id} v{batch.mbr.version}"
            mbr_signatures.append(_signature_entry("master_batch_record", label, signature, valid))
        else:
            label = labels.records.get(key, f"{kinds[model]} {signature.object_id}")
            signatures.append(_signature_entry(kinds[model], label, signature, valid))

    corrected_steps = {step.pk for step in steps if step.correction_count > 0}
    trail, corrections = audit_trail(batch.pk, labels, corrected_steps)

    deviations_by_step = {}
    for deviation in deviations:
        if deviation.batch_step_id is not None:
            deviations_by_step.setdefault(deviation.batch_step_id, []).append(deviation.deviation_id)
    step_entries = [_step_entry(step, deviations_by_step.get(step.pk, []), corrections) for step in steps]

    document = {
        "document": {
            "title": "Executed batch record",
            "format_version": FORMAT_VERSION,
            "exported_at": utc(exported_at),
            "exported_by": person(exported_by),
        },
        "header": _header(batch, exported_at=exported_at, exported_by=exported_by),
        "master_batch_record": _mbr_section(batch.mbr, mbr_signatures),
        "materials": [_material_entry(material) for material in materials],
        "equipment": [_equipment_entry(usage) for usage in equipment],
        "steps": step_entries,
        "deviations": [_deviation_entry(deviation) for deviation in deviations],
        "signatures": signatures,
        "audit_trail": trail,
        # The keyed hash chain of the batch's audit rows, recomputed at export (core.verification).
        "audit_verification": {**verify_record(batch).as_dict(), "verified_at": utc(exported_at)},
    }
    document["summary"] = {
        "steps": len(step_entries),
        "corrected_steps": sum(1 for step in step_entries if step["corrected"]),
        "signatures": len(signatures),
        "signatures_no_longer_valid": sum(1 for signature in signatures if not signature["valid"]),
        "deviations": len(deviations),
        "audit_entries": len(trail),
    }
    logger.info("Batch record %s exported by %s", batch.batch_id, exported_by.get_username())
    return document
