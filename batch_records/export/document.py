"""The executed batch record as one document, in JSON and in print (PDF).

EU GMP Annex 11 §8.2 asks for clear printed copies of electronically stored data, and
21 CFR 11.10(b) for accurate and complete copies in human readable and electronic form.
`build_batch_export` gathers everything the batch record holds into a plain dict of JSON
values (strings for quantities and times, never floats): the header, the master batch
record it was made from and its approval, materials, equipment use, every step with its
values and limits, every signature (and whether it still matches its record), every
deviation and the whole audit trail of the batch and its children, with values changed
after first entry shown with their original value. `render_batch_export_pdf` prints that
same dict, so both forms always say the same thing.

The number of queries does not depend on the size of the batch: children are read once
per model, signatures in one query, history once per model (iterated in chunks).
"""

import datetime
import functools
import io
import json
import logging
from contextlib import contextmanager
from pathlib import Path
from xml.sax.saxutils import escape, unescape

import reportlab
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

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
from core.audit import HISTORY_TYPES, field_changes, json_value, tracked_fields
from core.models import Signature

logger = logging.getLogger("ebr.export")

FORMAT_VERSION = 1
# History rows fetched per round trip: a long batch has thousands of them.
HISTORY_CHUNK_SIZE = 2000
CORRECTED = "CORRECTED"

# The records of a batch, in the order the document shows them: (model, kind, lookup to the batch).
_RECORDS = (
    (BatchRecord, "batch", "id"),
    (BatchStep, "step", "batch_id"),
    (BatchMaterial, "material", "batch_id"),
    (BatchEquipment, "equipment", "batch_id"),
    (BatchDeviation, "deviation", "batch_id"),
)


# --- values ---------------------------------------------------------------------------


def _utc(value):
    """An ISO 8601 UTC timestamp ("2026-03-01T08:15:00Z"), or None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat()


def _decimal(value):
    return None if value is None else str(value)


def _person(user):
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


def _load(batch_pk):
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


def _signatures(batch):
    """Every signature of the batch, its children and its MBR, in one query."""
    types = ContentType.objects.get_for_models(MasterBatchRecord, *(model for model, _, _ in _RECORDS))
    condition = Q(content_type=types[MasterBatchRecord], object_id=batch.mbr_id)
    for model, _, lookup in _RECORDS:
        ids = model.objects.filter(**{lookup: batch.pk}).values("pk")
        condition |= Q(content_type=types[model], object_id__in=ids)
    by_type = {types[model].pk: model for model in types}
    rows = Signature.objects.filter(condition).order_by("signed_at", "id")
    return [(by_type[signature.content_type_id], signature) for signature in rows]


# --- labels ---------------------------------------------------------------------------


def _step_label(step):
    return f"Step {step.step_number}"


def _material_label(material):
    return f"Material {material.material_code} (line {material.line_number})"


def _equipment_label(usage):
    if usage.equipment_id and getattr(usage, "equipment", None) is not None:
        name = f"{usage.equipment.equipment_id} {usage.equipment_name or usage.equipment.name}"
    else:
        name = usage.equipment_name or usage.equipment_id_manual or f"#{usage.pk}"
    return f"Equipment {name.strip()}"


class _Labels:
    """Human labels of the records in the document, and of the ids the audit trail shows
    in foreign-key fields (users, steps, the MBR...), so that it reads without lookups."""

    def __init__(self, batch, steps, materials, equipment, deviations):
        self.records = {(BatchRecord, batch.pk): batch.batch_id}
        self.records.update({(BatchStep, s.pk): _step_label(s) for s in steps})
        self.records.update({(BatchMaterial, m.pk): _material_label(m) for m in materials})
        self.records.update({(BatchEquipment, e.pk): _equipment_label(e) for e in equipment})
        self.records.update({(BatchDeviation, d.pk): d.deviation_id for d in deviations})
        self.references = {
            BatchRecord: {batch.pk: batch.batch_id},
            MasterBatchRecord: {batch.mbr_id: f"{batch.mbr.mbr_id} v{batch.mbr.version}"},
            type(batch.site): {batch.site_id: batch.site.code},
            BatchStep: {s.pk: _step_label(s) for s in steps},
            BatchMaterial: {m.pk: _material_label(m) for m in materials},
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
            return _material_label(row)
        if model is BatchDeviation:
            return row.deviation_id
        if model is BatchRecord:
            return row.batch_id
        return f"Equipment {row.equipment_name or row.equipment_id_manual or '#' + str(row.id)}"


# --- sections -------------------------------------------------------------------------


def _signature_entry(kind, label, signature, valid):
    return {
        "id": signature.pk,
        "record_type": kind,
        "record": label,
        "meaning": signature.meaning,
        "signer": signature.signer_username,
        "signer_name": signature.signer_full_name,
        "signed_at": _utc(signature.signed_at),
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
        "quantity_planned": _decimal(batch.quantity_planned),
        "quantity_produced": _decimal(batch.quantity_produced),
        "quantity_rejected": _decimal(batch.quantity_rejected),
        "yield_percentage": _decimal(batch.yield_percentage),
        "yield_limit_min": _decimal(batch.yield_limit_min),
        "yield_limit_max": _decimal(batch.yield_limit_max),
        "has_deviations": batch.has_deviations,
        "review_by_exception": batch.review_by_exception,
        "created_at": _utc(batch.created_at),
        "started_at": _utc(batch.started_at),
        "completed_at": _utc(batch.completed_at),
        "reviewed_by": _person(batch.reviewed_by),
        "reviewed_at": _utc(batch.reviewed_at),
        "released_by": _person(batch.released_by),
        "released_at": _utc(batch.release_date),
        "disposition_reason": batch.disposition_reason,
        "exported_at": _utc(exported_at),
        "exported_by": _person(exported_by),
    }


def _mbr_section(mbr, signatures):
    return {
        "mbr_id": mbr.mbr_id,
        "version": mbr.version,
        "title": mbr.title,
        "product_code": mbr.product_code,
        "product_name": mbr.product_name,
        "status": mbr.status,
        "effective_date": _utc(mbr.effective_date),
        "author": _person(mbr.author),
        "approved_by": _person(mbr.approved_by),
        "approval_date": _utc(mbr.approval_date),
        "signatures": signatures,
    }


def _material_entry(material):
    return {
        "line_number": material.line_number,
        "material_code": material.material_code,
        "material_name": material.material_name,
        "lot_number": material.lot_number,
        "unit_of_measure": material.unit_of_measure,
        "quantity_required": _decimal(material.quantity_required),
        "quantity_dispensed": _decimal(material.quantity_dispensed),
        "quantity_used": _decimal(material.quantity_used),
        "status": material.status,
        "dispensed_by": _person(material.dispensed_by),
        "dispensed_at": _utc(material.dispensed_at),
        "verified_by": _person(material.verified_by),
        "verified_at": _utc(material.verified_at),
        "consumed_by": _person(material.consumed_by),
        "consumed_at": _utc(material.consumed_at),
        "returned_at": _utc(material.returned_at),
        "return_reason": material.return_reason,
    }


def _equipment_entry(usage):
    linked = usage.equipment
    return {
        "equipment_id": linked.equipment_id if linked is not None else None,
        "equipment_name": usage.equipment_name or (linked.name if linked is not None else ""),
        "equipment_id_manual": usage.equipment_id_manual,
        "status": usage.status,
        "usage_start": _utc(usage.usage_start),
        "usage_end": _utc(usage.usage_end),
        "started_by": _person(usage.started_by),
        "ended_by": _person(usage.ended_by),
        "calibration_verified": usage.calibration_verified,
        "calibration_verified_by": _person(usage.calibration_verified_by),
        "calibration_verified_at": _utc(usage.calibration_verified_at),
        "cleaning_verified": usage.cleaning_verified,
        "cleaning_verified_by": _person(usage.cleaning_verified_by),
        "cleaning_verified_at": _utc(usage.cleaning_verified_at),
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
        "started_at": _utc(step.started_at),
        "completed_at": _utc(step.completed_at),
        "performed_by": _person(step.operator) if step.operator_signed_at else None,
        "performed_at": _utc(step.operator_signed_at),
        "verified_by": _person(step.verifier),
        "verified_at": _utc(step.verifier_signed_at),
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
        "material": _material_label(deviation.batch_material) if deviation.batch_material else None,
        "description": deviation.description,
        "impact_assessment": deviation.impact_assessment,
        "immediate_action": deviation.immediate_action,
        "root_cause": deviation.root_cause,
        "resolution": {
            "resolved_by": _person(deviation.resolved_by),
            "resolved_at": _utc(deviation.resolution_date),
            "closed_by": _person(deviation.closed_by),
            "closed_at": _utc(deviation.closed_at),
        },
        "linked_deviation": deviation.linked_deviation.deviation_id if deviation.linked_deviation else None,
        "linked_capa": deviation.linked_capa.capa_id if deviation.linked_capa else None,
        "opened_at": _utc(deviation.created_at),
    }


# --- audit trail ----------------------------------------------------------------------


def _reference_fields(history_model):
    """{field name: (related model, is a user)} for the foreign keys of a history model."""
    user_model = get_user_model()
    references = {}
    for field in tracked_fields(history_model):
        if field.is_relation and field.related_model is not None:
            related = field.related_model
            references[field.name] = (related, related is user_model)
    return references


def _resolve(value, related, labels):
    if value is None:
        return None
    return labels.references.get(related, {}).get(value, value)


def _value_changes(previous, row):
    """[{field, old, new}] of the recorded values between two history rows of a step."""
    old, new = previous or {}, row or {}
    return [
        {"field": name, "old": old.get(name), "new": new.get(name)}
        for name in sorted(set(old) | set(new))
        if old.get(name) != new.get(name)
    ]


def _audit_trail(batch_pk, labels, corrected_steps):
    """Every history row of the batch and its children, oldest first, with field-level
    changes; and, per step, the values as first entered and each later change to them."""
    entries = []
    user_refs = []  # (change dict, key) pairs whose value is a user id, resolved at the end
    corrections = {}
    for order, (model, kind, lookup) in enumerate(_RECORDS):
        history_model = model.history.model
        fields = tracked_fields(history_model)
        references = _reference_fields(history_model)
        rows = (
            model.history.filter(**{lookup: batch_pk})
            .select_related("history_user")
            .order_by("id", "history_id")
            .iterator(chunk_size=HISTORY_CHUNK_SIZE)
        )
        previous = None
        for row in rows:
            if previous is not None and previous.id != row.id:
                previous = None
            changes = field_changes(previous, row, fields)
            for change in changes:
                reference = references.get(change["field"])
                if reference is None:
                    continue
                related, is_user = reference
                if is_user:
                    user_refs.append(change)
                else:
                    change["old"] = _resolve(change["old"], related, labels)
                    change["new"] = _resolve(change["new"], related, labels)
            if model is BatchStep and row.id in corrected_steps:
                _track_values(corrections, previous, row)
            entries.append(
                {
                    "at": _utc(row.history_date),
                    "record_type": kind,
                    "record": labels.record(model, row),
                    "action": HISTORY_TYPES.get(row.history_type, row.history_type),
                    "user": row.history_user.get_username() if row.history_user_id else None,
                    "user_name": (row.history_user.get_full_name() or row.history_user.get_username())
                    if row.history_user_id
                    else None,
                    "reason": row.history_change_reason or "",
                    "changes": changes,
                    "_order": (row.history_date, order, row.history_id),
                }
            )
            previous = row
    _resolve_users(user_refs)
    entries.sort(key=lambda entry: entry["_order"])
    for entry in entries:
        del entry["_order"]
    return entries, corrections


def _track_values(corrections, previous, row):
    """Record the first entry of a step's values and each later change to them."""
    before = previous.actual_values if previous is not None else {}
    after = row.actual_values or {}
    if before == after:
        return
    original, changes = corrections.setdefault(row.id, [None, []])
    if not before:
        corrections[row.id][0] = after
        return
    user = row.history_user if row.history_user_id else None
    changes.append(
        {
            "number": len(changes) + 1,
            "at": _utc(row.history_date),
            "by": _person(user),
            "reason": row.history_change_reason or "",
            "old_values": before,
            "new_values": after,
            "changes": _value_changes(before, after),
        }
    )


def _resolve_users(changes):
    """Show usernames instead of user ids in the audit trail: one query for all of them."""
    ids = {value for change in changes for value in (change["old"], change["new"]) if value is not None}
    if not ids:
        return
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    for change in changes:
        change["old"] = names.get(change["old"], change["old"])
        change["new"] = names.get(change["new"], change["new"])


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
    batch, steps, materials, equipment, deviations = _load(batch_pk)
    labels = _Labels(batch, steps, materials, equipment, deviations)
    records = {(BatchRecord, batch.pk): batch, (MasterBatchRecord, batch.mbr_id): batch.mbr}
    for model, rows in ((BatchStep, steps), (BatchMaterial, materials), (BatchEquipment, equipment)):
        records.update({(model, row.pk): row for row in rows})
    records.update({(BatchDeviation, row.pk): row for row in deviations})
    kinds = {model: kind for model, kind, _ in _RECORDS}

    # 21 CFR 11.70: each signature is checked against its record as it stands now.
    hashes = {}
    mbr_signatures, signatures = [], []
    for model, signature in _signatures(batch):
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
    audit_trail, corrections = _audit_trail(batch.pk, labels, corrected_steps)

    deviations_by_step = {}
    for deviation in deviations:
        if deviation.batch_step_id is not None:
            deviations_by_step.setdefault(deviation.batch_step_id, []).append(deviation.deviation_id)
    step_entries = [_step_entry(step, deviations_by_step.get(step.pk, []), corrections) for step in steps]

    document = {
        "document": {
            "title": "Executed batch record",
            "format_version": FORMAT_VERSION,
            "exported_at": _utc(exported_at),
            "exported_by": _person(exported_by),
        },
        "header": _header(batch, exported_at=exported_at, exported_by=exported_by),
        "master_batch_record": _mbr_section(batch.mbr, mbr_signatures),
        "materials": [_material_entry(material) for material in materials],
        "equipment": [_equipment_entry(usage) for usage in equipment],
        "steps": step_entries,
        "deviations": [_deviation_entry(deviation) for deviation in deviations],
        "signatures": signatures,
        "audit_trail": audit_trail,
    }
    document["summary"] = {
        "steps": len(step_entries),
        "corrected_steps": sum(1 for step in step_entries if step["corrected"]),
        "signatures": len(signatures),
        "signatures_no_longer_valid": sum(1 for signature in signatures if not signature["valid"]),
        "deviations": len(deviations),
        "audit_entries": len(audit_trail),
    }
    logger.info("Batch record %s exported by %s", batch.batch_id, exported_by.get_username())
    return document


# --- print (PDF) ----------------------------------------------------------------------

PAGE_SIZE = landscape(A4)
MARGIN = 12 * mm
# The frame's width inside the margins and its padding; column widths are shares of it.
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN - 12
# Long sections are printed as tables of this many rows each (each repeats its header).
TABLE_CHUNK_ROWS = 20
CELL_FONT_SIZE, CELL_LEADING, CELL_PADDING = 7, 8.5, 3
SPLIT_CACHE_SIZE = 20_000
# A table whose tallest row is taller than this may split inside a row at a page end
# (ReportLab's splitInRow, which costs layout time on every table that has it).
TALL_ROW = (PAGE_SIZE[1] - 2 * MARGIN) / 3
# A font that prints names with accents, "°" and "→", where the system has one.
SYSTEM_FONTS = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/dejavu/DejaVuSans.ttf", "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/TTF/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
)
RED = colors.HexColor("#b00020")
GREEN = colors.HexColor("#1b5e20")
HEADER_FILL = colors.HexColor("#37474f")
ALERT_FILL = colors.HexColor("#fff3cd")
GRID = colors.HexColor("#90a4ae")


@functools.cache
def _fonts():
    """(regular, bold, arrow): TrueType fonts embedded in the PDF, so that what is printed
    is exactly what is stored (settings.EBR_EXPORT_FONTS may name a regular and a bold
    .ttf; otherwise a system DejaVu Sans, else the font shipped with ReportLab)."""
    bundled = Path(reportlab.__file__).parent / "fonts"
    configured = getattr(settings, "EBR_EXPORT_FONTS", None)
    candidates = [tuple(configured)] if configured else []
    candidates += [*SYSTEM_FONTS, (bundled / "Vera.ttf", bundled / "VeraBd.ttf")]
    for regular, bold in candidates:
        if Path(regular).is_file() and Path(bold).is_file():
            regular_font = _ExportFont("EBRExport", str(regular))
            pdfmetrics.registerFont(regular_font)
            pdfmetrics.registerFont(_ExportFont("EBRExport-Bold", str(bold)))
            pdfmetrics.registerFontFamily(
                "EBRExport", normal="EBRExport", bold="EBRExport-Bold", italic="EBRExport", boldItalic="EBRExport-Bold"
            )
            arrow = "→" if ord("→") in regular_font.face.charToGlyph else "->"
            return "EBRExport", "EBRExport-Bold", arrow
    return "Helvetica", "Helvetica-Bold", "->"


class _ExportFont(TTFont):
    """A TrueType font that remembers, per document, how it split each string into its
    embedded subsets. The export prints the same names, statuses, meanings and labels
    thousands of times, and ReportLab maps every character of every string again each time
    (a Python loop). Once a string was split its characters keep their codes for the whole
    document, so the answer cannot change. At most SPLIT_CACHE_SIZE strings per document."""

    def splitString(self, text, doc, encoding="utf-8"):
        state = self.state.get(doc)
        splits = getattr(state, "ebr_splits", None)
        if splits is not None and text in splits:
            return splits[text]
        result = super().splitString(text, doc, encoding)
        if splits is None:
            splits = self.state[doc].ebr_splits = {}
        if len(splits) < SPLIT_CACHE_SIZE:
            splits[text] = result
        return result


@functools.cache
def _styles():
    regular, bold, _ = _fonts()
    cell = ParagraphStyle("cell", fontName=regular, fontSize=CELL_FONT_SIZE, leading=CELL_LEADING)
    return {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, spaceAfter=4),
        "h2": ParagraphStyle(
            "h2", fontName=bold, fontSize=11, leading=14, spaceBefore=10, spaceAfter=4, keepWithNext=1
        ),
        "body": ParagraphStyle("body", fontName=regular, fontSize=8.5, leading=11),
        "intro": ParagraphStyle("intro", fontName=regular, fontSize=8.5, leading=11, keepWithNext=1),
        "banner": ParagraphStyle("banner", fontName=bold, fontSize=13, leading=16, textColor=colors.white),
        "cell": cell,
        "head": ParagraphStyle("head", parent=cell, fontName=bold, textColor=colors.white),
        "label": ParagraphStyle("label", parent=cell, fontName=bold),
    }


def _plain(value):
    """Any JSON value as one line of printed text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def _markup(value):
    return escape(_plain(value)).replace("\n", "<br/>")


def _when(value):
    """ "2026-03-01 08:15:00" from an export timestamp (always UTC), "—" when absent."""
    if not value:
        return "—"
    return value[:19].replace("T", " ")


def _who(person, at=None):
    if not person:
        return "—"
    text = f"{escape(person['name'])} ({escape(person['username'])})"
    return f"{text}<br/>{_when(at)}" if at else text


class _CellParagraph(Paragraph):
    """A table cell's paragraph. A table wraps each cell to measure it, again to draw it,
    and again after splitting at a page end, always at the column's width: the line
    breaking is done once per width (most of the rendering time otherwise)."""

    _wrapped_for = None

    def wrap(self, availWidth, availHeight):
        # Splitting at a page end may drop the lines (blPara): then break them again.
        if self._wrapped_for == availWidth and hasattr(self, "blPara"):
            return self.width, self.height
        size = super().wrap(availWidth, availHeight)
        self._wrapped_for = availWidth
        return size


class _PlainCell:
    """A table cell of plain text (no markup but line breaks). It becomes a string wrapped
    once at its column's width: a table draws strings far faster than paragraphs, and most
    cells of an executed batch record (values, names, times, trail entries) are plain."""

    __slots__ = ("lines",)

    def __init__(self, markup):
        self.lines = [unescape(line) for line in markup.split("<br/>")]

    def wrapped(self, width):
        lines = []
        for line in self.lines:
            lines.extend(_split_line(line, width))
        return "\n".join(lines)


@functools.lru_cache(maxsize=8192)
def _split_line(line, width):
    """A line of cell text broken at `width` (names, statuses and labels recur thousands of
    times in one record; their breaking never changes)."""
    return tuple(simpleSplit(line, _fonts()[0], CELL_FONT_SIZE, width) or [""])


def _cell(markup, style="cell"):
    if style == "cell" and "<" not in markup.replace("<br/>", ""):
        return _PlainCell(markup)
    return _CellParagraph(markup, _styles()[style])


def _widths(shares):
    total = sum(shares)
    return [CONTENT_WIDTH * share / total for share in shares]


def _tables(header, groups, widths):
    """Tables of at most TABLE_CHUNK_ROWS rows that split across pages, repeat their
    header and wrap long text. `groups` is a list of row groups kept in one table; each
    row is (cells, kind) with kind None, "alert" (highlighted) or "note" (one wide cell)."""
    if not groups:
        return [Paragraph("None recorded.", _styles()["body"])]
    head = [_cell(f"<b>{escape(title)}</b>", "head") for title in header]
    flowables, chunk = [], []
    for group in groups:
        if chunk and len(chunk) + len(group) > TABLE_CHUNK_ROWS:
            flowables.append(_table(head, chunk, widths))
            chunk = []
        chunk.extend(group)
    flowables.append(_table(head, chunk, widths))
    return flowables


def _wrap_plain_cells(cells, widths):
    """Plain cells as strings wrapped at their column's inner width."""
    inner = [width - 2 * CELL_PADDING for width in widths]
    return [cell.wrapped(inner[index]) if isinstance(cell, _PlainCell) else cell for index, cell in enumerate(cells)]


def _table(head, rows, widths):
    data = [head]
    regular = _fonts()[0]
    column_widths = _widths(widths)
    commands = [
        ("FONT", (0, 0), (-1, -1), regular, CELL_FONT_SIZE, CELL_LEADING),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for index, (cells, kind) in enumerate(rows, start=1):
        if kind == "note":
            spanned = [column_widths[0], sum(column_widths[1:])]
            data.append([*_wrap_plain_cells([cells[0], cells[1]], spanned), *([""] * (len(widths) - 2))])
            commands.append(("SPAN", (1, index), (-1, index)))
            commands.append(("BACKGROUND", (0, index), (-1, index), ALERT_FILL))
        else:
            data.append(_wrap_plain_cells(cells, column_widths))
            if kind == "alert":
                commands.append(("BACKGROUND", (0, index), (-1, index), ALERT_FILL))
    tall = any(_row_height(row, column_widths) > TALL_ROW for row in data)
    table = Table(data, colWidths=column_widths, repeatRows=1, splitInRow=int(tall), hAlign="LEFT")
    table.setStyle(TableStyle(commands))
    return table


def _row_height(cells, widths):
    """The height a row will take: pre-wrapped strings by their lines, paragraphs as
    wrapped at their column's inner width (ReportLab reuses that wrap when it lays out)."""
    tallest = 0
    for cell, width in zip(cells, widths, strict=False):
        if isinstance(cell, str):
            height = (cell.count("\n") + 1) * CELL_LEADING
        else:
            height = cell.wrap(width - 2 * CELL_PADDING, PAGE_SIZE[1])[1]
        tallest = max(tallest, height)
    return tallest + 4


def _pairs(items, widths=(1, 3, 1, 3)):
    """A two-column list of label/value pairs."""
    rows = []
    for start in range(0, len(items), 2):
        row = []
        for label, markup in items[start : start + 2]:
            row += [_cell(escape(label), "label"), _cell(markup)]
        rows.append(row + [""] * (4 - len(row)))
    table = Table(rows, colWidths=_widths(widths), hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, GRID),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eceff1")),
                ("BACKGROUND", (2, 0), (2, -1), colors.HexColor("#eceff1")),
            ]
        )
    )
    return table


def _limits(field):
    low, high = field["min"], field["max"]
    if low is None and high is None:
        return ""
    return f" (limits {_plain(low) if low is not None else '—'} – {_plain(high) if high is not None else '—'})"


def _signature_rows(signatures):
    rows = []
    for signature in signatures:
        valid = "valid" if signature["valid"] else "<b>NO LONGER VALID</b>: the record changed after signing"
        rows.append(
            [
                (
                    [
                        _cell(escape(signature["record"])),
                        _cell(escape(signature["meaning"])),
                        _cell(escape(signature["signer_name"])),
                        _cell(escape(signature["signer"])),
                        _cell(_when(signature["signed_at"])),
                        _cell(_markup(signature["record_status"])),
                        _cell(_markup(signature["comment"])),
                        _cell(f"{valid}<br/>SHA-256 {signature['content_hash'][:16]}…"),
                    ],
                    None if signature["valid"] else "alert",
                )
            ]
        )
    return rows


SIGNATURE_HEADER = ("Record", "Meaning", "Printed name", "Username", "Signed at (UTC)", "Status", "Comment", "Valid")
SIGNATURE_WIDTHS = [100, 55, 120, 80, 80, 60, 179, 100]


def _header_section(document):
    header, mbr = document["header"], document["master_batch_record"]
    styles = _styles()
    released = header["released"]
    banner = Table(
        [[Paragraph(escape(header["release_state"]), styles["banner"])]], colWidths=[CONTENT_WIDTH], hAlign="LEFT"
    )
    banner.setStyle(TableStyle([("BACKGROUND", (0, 0), (-1, -1), GREEN if released else RED)]))
    limits = f"{_plain(header['yield_limit_min'])} – {_plain(header['yield_limit_max'])} %"
    yield_text = f"{header['yield_percentage']} %" if header["yield_percentage"] is not None else "—"
    items = [
        ("Batch ID", escape(header["batch_id"])),
        ("Status", escape(header["status"])),
        ("Batch number", escape(header["batch_number"])),
        ("Lot number", escape(header["lot_number"])),
        ("Product", f"{escape(header['product_code'])} {escape(header['product_name'])}"),
        ("Site", f"{escape(header['site']['code'])} {escape(header['site']['name'])}"),
        ("Production line", _markup(header["production_line"])),
        ("Quantity planned", _markup(header["quantity_planned"])),
        ("Quantity produced", _markup(header["quantity_produced"])),
        ("Quantity rejected", _markup(header["quantity_rejected"])),
        ("Yield (of theoretical)", escape(yield_text)),
        ("Yield limits", escape(limits)),
        ("Started (UTC)", _when(header["started_at"])),
        ("Completed (UTC)", _when(header["completed_at"])),
        ("Reviewed by", _who(header["reviewed_by"], header["reviewed_at"])),
        ("Released by", _who(header["released_by"], header["released_at"])),
        ("Released (UTC)", _when(header["released_at"])),
        ("Disposition reason", _markup(header["disposition_reason"])),
        ("Deviations", "yes" if header["has_deviations"] else "no"),
        ("Review by exception", "yes" if header["review_by_exception"] else "no"),
        ("Exported (UTC)", _when(header["exported_at"])),
        ("Exported by", _who(header["exported_by"])),
    ]
    mbr_items = [
        ("MBR", f"{escape(mbr['mbr_id'])} version {mbr['version']}"),
        ("MBR status", escape(mbr["status"])),
        ("Title", escape(mbr["title"])),
        ("Effective date", _markup(mbr["effective_date"])),
        ("Author", _who(mbr["author"])),
        ("Approved by", _who(mbr["approved_by"], mbr["approval_date"])),
    ]
    summary = document["summary"]
    counts = (
        f"{summary['steps']} steps ({summary['corrected_steps']} corrected), {summary['signatures']} signatures "
        f"({summary['signatures_no_longer_valid']} no longer valid), {summary['deviations']} deviations, "
        f"{summary['audit_entries']} audit trail entries."
    )
    return [
        Paragraph(f"Executed batch record {escape(header['batch_id'])}", styles["title"]),
        banner,
        Spacer(1, 6),
        _pairs(items),
        Spacer(1, 4),
        Paragraph(escape(counts), styles["body"]),
        Paragraph("Master batch record", styles["h2"]),
        _pairs(mbr_items),
        Spacer(1, 4),
        Paragraph("Approval signatures of the master batch record", styles["intro"]),
        *_tables(SIGNATURE_HEADER, _signature_rows(mbr["signatures"]), SIGNATURE_WIDTHS),
    ]


def _materials_section(materials):
    rows = []
    for material in materials:
        ended = _who(material["consumed_by"], material["consumed_at"])
        if material["returned_at"]:
            ended = f"returned {_when(material['returned_at'])}: {_markup(material['return_reason'])}"
        rows.append(
            [
                (
                    [
                        _cell(str(material["line_number"])),
                        _cell(f"{escape(material['material_code'])}<br/>{escape(material['material_name'])}"),
                        _cell(_markup(material["lot_number"])),
                        _cell(_markup(material["quantity_required"])),
                        _cell(_markup(material["quantity_dispensed"])),
                        _cell(_markup(material["quantity_used"])),
                        _cell(escape(material["unit_of_measure"])),
                        _cell(escape(material["status"])),
                        _cell(_who(material["dispensed_by"], material["dispensed_at"])),
                        _cell(_who(material["verified_by"], material["verified_at"])),
                        _cell(ended),
                    ],
                    None,
                )
            ]
        )
    header = (
        "Line",
        "Material",
        "Lot",
        "Required",
        "Dispensed",
        "Used",
        "Unit",
        "Status",
        "Dispensed by",
        "Verified by",
        "Consumed / returned",
    )
    return _tables(header, rows, [25, 130, 70, 55, 55, 55, 30, 50, 100, 100, 104])


def _equipment_section(equipment):
    rows = []
    for usage in equipment:
        name = " ".join(part for part in (usage["equipment_id"], usage["equipment_name"]) if part)
        if usage["equipment_id_manual"]:
            name += f" [{usage['equipment_id_manual']}]"
        calibration = _who(usage["calibration_verified_by"], usage["calibration_verified_at"])
        cleaning = _who(usage["cleaning_verified_by"], usage["cleaning_verified_at"])
        rows.append(
            [
                (
                    [
                        _cell(escape(name)),
                        _cell(escape(usage["status"])),
                        _cell(_when(usage["usage_start"])),
                        _cell(_when(usage["usage_end"])),
                        _cell(_who(usage["started_by"])),
                        _cell(_who(usage["ended_by"])),
                        _cell(calibration if usage["calibration_verified"] else "not verified"),
                        _cell(cleaning if usage["cleaning_verified"] else "not verified"),
                    ],
                    None,
                )
            ]
        )
    header = ("Equipment", "Status", "Start (UTC)", "End (UTC)", "Started by", "Ended by", "Calibration", "Cleaning")
    return _tables(header, rows, [150, 50, 75, 75, 95, 95, 117, 117])


def _values_markup(step):
    lines = []
    for field in step["data_fields"]:
        unit = f" {field['unit']}" if field["unit"] else ""
        verdict = ""
        if field["within_spec"] is False:
            verdict = " <b>OUT OF SPEC</b>"
        elif field["within_spec"] is True:
            verdict = " in spec"
        lines.append(
            f"<b>{escape(_plain(field['name']))}</b> = {_markup(field['value'])}{escape(unit)}"
            f"{escape(_limits(field))}{verdict}"
        )
    return "<br/>".join(lines) or "—"


def _correction_markup(step):
    arrow = _fonts()[2]
    count = len(step["corrections"]) or step["correction_count"]
    original = ", ".join(f"{name} = {_plain(value)}" for name, value in (step["original_values"] or {}).items())
    parts = [
        f"<b>{CORRECTED}</b>: value(s) changed after first entry ({count} correction(s)). "
        f"Originally recorded: {escape(original or '—')}."
    ]
    for correction in step["corrections"]:
        changed = "; ".join(
            f"{change['field']}: {_plain(change['old'])} {arrow} {_plain(change['new'])}"
            for change in correction["changes"]
        )
        parts.append(
            f"Correction {correction['number']} on {_when(correction['at'])} UTC by {_who(correction['by'])}: "
            f"<b>{escape(changed)}</b>. Reason: {_markup(correction['reason'])}"
        )
    return "<br/>".join(parts)


def _steps_section(steps):
    groups = []
    for step in steps:
        result = [escape(step["status"])]
        if step["is_within_spec"] is not None:
            result.append("within spec" if step["is_within_spec"] else "<b>OUT OF SPEC</b>")
        if step["corrected"]:
            result.append(f'<font color="#b00020"><b>{CORRECTED}</b></font>')
        verified = _who(step["verified_by"], step["verified_at"])
        if step["requires_verification"] and not step["verified_by"]:
            verified = "required, not verified"
        elif not step["requires_verification"]:
            verified = "not required"
        notes = []
        if step["skip_reason"]:
            notes.append(f"Skipped: {_markup(step['skip_reason'])}")
        if step["deviations"]:
            notes.append("Deviations: " + escape(", ".join(step["deviations"])))
        if step["deviation_notes"]:
            notes.append(_markup(step["deviation_notes"]))
        row = [
            _cell(str(step["step_number"])),
            _cell(_markup(step["instruction_text"])),
            _cell(_values_markup(step)),
            _cell("<br/>".join(result)),
            _cell(_who(step["performed_by"], step["performed_at"])),
            _cell(verified),
            _cell("<br/>".join(notes) or "—"),
        ]
        group = [(row, "alert" if step["corrected"] else None)]
        if step["corrected"]:
            group.append(([_cell(""), _cell(_correction_markup(step))], "note"))
        groups.append(group)
    header = ("#", "Instruction", "Recorded values and limits", "Result", "Performed by", "Verified by", "Notes")
    return _tables(header, groups, [24, 170, 200, 70, 105, 105, 100])


def _deviations_section(deviations):
    rows = []
    for deviation in deviations:
        resolution = deviation["resolution"]
        resolved = []
        if resolution["resolved_by"]:
            resolved.append("Resolved by " + _who(resolution["resolved_by"], resolution["resolved_at"]))
        if resolution["closed_by"]:
            resolved.append("Closed by " + _who(resolution["closed_by"], resolution["closed_at"]))
        for label, key in (("QMS deviation", "linked_deviation"), ("CAPA", "linked_capa")):
            if deviation[key]:
                resolved.append(f"{label} {escape(deviation[key])}")
        where = f"Step {deviation['step_number']}" if deviation["step_number"] is not None else ""
        if deviation["material"]:
            where = " ".join(filter(None, [where, deviation["material"]]))
        actions = (
            f"Impact: {_markup(deviation['impact_assessment'])}<br/>"
            f"Immediate action: {_markup(deviation['immediate_action'])}"
        )
        rows.append(
            [
                (
                    [
                        _cell(f"<b>{escape(deviation['deviation_id'])}</b><br/>{_when(deviation['opened_at'])}"),
                        _cell(escape(deviation["deviation_type"].replace("_", " "))),
                        _cell(escape(deviation["status"])),
                        _cell(_markup(where)),
                        _cell(_markup(deviation["description"])),
                        _cell(_markup(deviation["root_cause"])),
                        _cell(actions),
                        _cell("<br/>".join(resolved) or "—"),
                    ],
                    None,
                )
            ]
        )
    header = (
        "ID / opened (UTC)",
        "Type",
        "Status",
        "Step / material",
        "Description",
        "Root cause",
        "Actions",
        "Resolution",
    )
    return _tables(header, rows, [70, 70, 50, 60, 190, 120, 110, 104])


def _changes_markup(changes, arrow):
    lines = []
    for change in changes:
        if change["old"] is None:
            text = f"{change['field']}: {_plain(change['new'])}"
        else:
            text = f"{change['field']}: {_plain(change['old'])} {arrow} {_plain(change['new'])}"
        lines.append(escape(text))
    return "<br/>".join(lines) or "—"


def _audit_section(entries):
    arrow = _fonts()[2]
    rows = []
    for entry in entries:
        user = f"{entry['user_name']} ({entry['user']})" if entry["user"] else "system"
        rows.append(
            [
                (
                    [
                        _when(entry["at"]),
                        _cell(escape(entry["record"])),
                        entry["action"],
                        _cell(escape(user)),
                        _cell(_markup(entry["reason"])),
                        _cell(_changes_markup(entry["changes"], arrow)),
                    ],
                    None,
                )
            ]
        )
    header = ("Time (UTC)", "Record", "Action", "User", "Reason", "Changes")
    return _tables(header, rows, [78, 95, 42, 95, 150, 314])


def _page_decorator(document):
    """A canvas class that draws the header and footer, with "Page X of Y", on every page
    once the number of pages is known."""
    header = document["header"]
    regular, bold, _ = _fonts()
    width, height = PAGE_SIZE
    title = (
        f"{header['batch_id']} · Executed batch record · {header['product_code']} {header['product_name']} · "
        f"batch {header['batch_number']} · lot {header['lot_number']}"
    )
    exporter = header["exported_by"] or {"name": "", "username": ""}
    footer = (
        f"Exported {_when(header['exported_at'])} UTC by {exporter['name']} ({exporter['username']}). "
        "Printed copy of the electronic batch record."
    )
    state = header["release_state"]

    def fit(text, font, size, room):
        while pdfmetrics.stringWidth(text, font, size) > room and len(text) > 1:
            text = text[:-2] + "…"
        return text

    class ExportCanvas(canvas.Canvas):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("initialFontName", regular)
            super().__init__(*args, **kwargs)
            self._pages = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            total = len(self._pages)
            for number, page in enumerate(self._pages, start=1):
                self.__dict__.update(page)
                self._decorate(number, total)
                super().showPage()
            super().save()

        def _decorate(self, number, total):
            self.saveState()
            state_width = pdfmetrics.stringWidth(state, bold, 9)
            self.setFont(bold, 9)
            self.setFillColor(GREEN if header["released"] else RED)
            self.drawRightString(width - MARGIN, height - MARGIN, state)
            self.setFillColor(colors.black)
            self.drawString(MARGIN, height - MARGIN, fit(title, bold, 9, width - 2 * MARGIN - state_width - 12))
            self.setStrokeColor(GRID)
            self.line(MARGIN, height - MARGIN - 4, width - MARGIN, height - MARGIN - 4)
            self.line(MARGIN, MARGIN + 10, width - MARGIN, MARGIN + 10)
            self.setFont(regular, 7.5)
            page = f"Page {number} of {total}"
            self.drawRightString(width - MARGIN, MARGIN, page)
            room = width - 2 * MARGIN - pdfmetrics.stringWidth(page, regular, 7.5) - 12
            self.drawString(MARGIN, MARGIN, fit(footer, regular, 7.5, room))
            self.restoreState()

    return ExportCanvas


def render_batch_export_pdf(document):
    """The export document printed: a PDF of the executed batch record."""
    styles = _styles()
    header = document["header"]
    story = [
        *_header_section(document),
        Paragraph("Materials", styles["h2"]),
        *_materials_section(document["materials"]),
        Paragraph("Equipment use", styles["h2"]),
        *_equipment_section(document["equipment"]),
        Paragraph("Steps", styles["h2"]),
        *_steps_section(document["steps"]),
        Paragraph("Deviations", styles["h2"]),
        *_deviations_section(document["deviations"]),
        Paragraph("Electronic signatures", styles["h2"]),
        Paragraph(
            "Every signature on the batch and its steps, materials, equipment use and deviations. "
            "Valid: the record still has the content it had when signed (SHA-256).",
            styles["intro"],
        ),
        *_tables(SIGNATURE_HEADER, _signature_rows(document["signatures"]), SIGNATURE_WIDTHS),
        Paragraph("Audit trail", styles["h2"]),
        Paragraph(
            "Every change to the batch and its children, oldest first: who, when (UTC), why, and each field's "
            "old and new value.",
            styles["intro"],
        ),
        *_audit_section(document["audit_trail"]),
    ]
    buffer = io.BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + 8 * mm,
        bottomMargin=MARGIN + 8 * mm,
        title=f"{header['batch_id']} executed batch record",
        subject=header["release_state"],
        author="EBR API",
        creator="EBR API",
    )
    pdf.build(story, canvasmaker=_page_decorator(document))
    return buffer.getvalue()
