"""The device history record of one unit (21 CFR 820.184): for each step what was done,
by whom, when, with which values, the waivers, and every electronic signature with the
signer's printed name and its meaning (21 CFR 11.50); force-completion and scrapping.

`device_history_record()` builds it as data (the JSON answer); `render_device_history_pdf()`
prints that same data, so the two never disagree.
"""

import io
from xml.sax.saxutils import escape

from django.db.models import Prefetch
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from core.models import SignatureMeaning

from .models import SerialStepOverride, SerialStepStatus
from .services import optional_step_numbers

# Everything the record shows, in a fixed number of queries whatever the number of steps.
DEVICE_HISTORY_PREFETCH = (
    Prefetch(
        "step_statuses",
        queryset=SerialStepStatus.objects.select_related("step", "performed_by").prefetch_related("signatures"),
    ),
    Prefetch(
        "overrides",
        queryset=SerialStepOverride.objects.select_related("step", "created_by").prefetch_related("signatures"),
    ),
    "signatures",
)
DEVICE_HISTORY_RELATED = ("batch__mbr", "batch__site", "force_completed_by", "scrapped_by", "created_by", "updated_by")


def _person(user):
    if user is None:
        return None
    return {"username": user.get_username(), "name": user.get_full_name() or user.get_username()}


def _signatures(record):
    current = record.content_hash()
    return [
        {
            "signer": signature.signer_username,
            "signer_name": signature.signer_full_name,
            "meaning": signature.meaning,
            "meaning_label": SignatureMeaning(signature.meaning).label,
            "signed_at": signature.signed_at,
            "comment": signature.comment,
            "valid": signature.is_valid_for(current),
        }
        for signature in record.signatures.all()
    ]


def _waiver(override):
    return {
        "id": override.pk,
        "reason": override.reason,
        "active": override.active,
        "waived_by": _person(override.created_by),
        "waived_at": override.created_at,
        "signatures": _signatures(override),
    }


def device_history_record(serial):
    """The record of `serial` as data; `serial` loaded with DEVICE_HISTORY_RELATED and
    DEVICE_HISTORY_PREFETCH."""
    batch, mbr = serial.batch, serial.batch.mbr
    optional = optional_step_numbers(batch)
    waivers = {}
    for override in serial.overrides.all():
        waivers.setdefault(override.step_id, []).append(_waiver(override))
    statuses = sorted(serial.step_statuses.all(), key=lambda status: status.step_index)
    steps_by_id = {status.step_id: status.step for status in statuses}
    current = next((status for status in statuses if status.step_index == serial.current_step_index), None)
    force_completion = None
    if serial.force_completed:
        force_completion = {
            "force_completed_by": _person(serial.force_completed_by),
            "force_completed_at": serial.force_completed_at,
            "reason": serial.force_completed_reason or None,
            "incomplete_step_ids": serial.incomplete_step_ids,
            "incomplete_step_numbers": [
                steps_by_id[step_id].step_number for step_id in serial.incomplete_step_ids if step_id in steps_by_id
            ],
        }
    scrap = None
    if serial.scrapped_at is not None:
        scrap = {
            "scrapped_by": _person(serial.scrapped_by),
            "scrapped_at": serial.scrapped_at,
            "reason": serial.scrapped_reason,
        }
    return {
        "serial_id": serial.serial_id,
        "status": serial.status,
        "current_step_number": current.step.step_number if current else None,
        "created_at": serial.created_at,
        "completed_at": serial.completed_at,
        "force_completed": serial.force_completed,
        "batch": {
            "id": batch.pk,
            "batch_id": batch.batch_id,
            "batch_number": batch.batch_number,
            "lot_number": batch.lot_number,
            "site": batch.site.code,
            "status": batch.status,
        },
        "product": {
            "mbr_id": mbr.mbr_id,
            "mbr_version": mbr.version,
            "product_code": mbr.product_code,
            "product_name": mbr.product_name,
        },
        "steps": [
            {
                "step_id": status.step_id,
                "step_number": status.step.step_number,
                "instruction_text": status.step.instruction_text,
                "optional": status.step.step_number in optional,
                "status": status.status,
                "actual_values": status.actual_values,
                "is_within_spec": status.is_within_spec,
                "performed_by": _person(status.performed_by),
                "performed_at": status.performed_at,
                "waivers": waivers.get(status.step_id, []),
                "signatures": _signatures(status),
            }
            for status in statuses
        ],
        "force_completion": force_completion,
        "scrap": scrap,
        "signatures": _signatures(serial),
        "generated_at": timezone.now(),
    }


# --- PDF ---------------------------------------------------------------------------------

_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (0, -1), colors.whitesmoke),
    ]
)
_HEADER_GRID = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
    ]
)


def _when(value):
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "—"


def _who(person):
    return f"{person['name']} ({person['username']})" if person else "—"


def _values(values):
    if not values:
        return "—"
    return "; ".join(f"{name} = {value}" for name, value in values.items())


class _Printer:
    def __init__(self):
        styles = getSampleStyleSheet()
        self.title = styles["Title"]
        self.heading = styles["Heading3"]
        self.body = styles["BodyText"]
        self.small = styles["BodyText"].clone("small", fontSize=8, leading=10)
        self.flow = []

    def text(self, value, style=None):
        return Paragraph(escape(str(value)), style or self.small)

    def fields(self, rows):
        data = [[self.text(label), self.text(value)] for label, value in rows]
        table = Table(data, colWidths=[40 * mm, 130 * mm])
        table.setStyle(_GRID)
        return table

    def signatures(self, signatures):
        if not signatures:
            return self.text("No electronic signature.")
        data = [[self.text(label) for label in ("Meaning", "Printed name (user)", "Signed at", "Comment", "Valid")]]
        for signature in signatures:
            data.append(
                [
                    self.text(signature["meaning_label"]),
                    self.text(f"{signature['signer_name']} ({signature['signer']})"),
                    self.text(_when(signature["signed_at"])),
                    self.text(signature["comment"] or "—"),
                    self.text("yes" if signature["valid"] else "NO: content changed after signing"),
                ]
            )
        table = Table(data, colWidths=[24 * mm, 46 * mm, 36 * mm, 46 * mm, 18 * mm], repeatRows=1)
        table.setStyle(_HEADER_GRID)
        return table


def render_device_history_pdf(record):
    """The record as a PDF (bytes), page-numbered, every page naming the unit."""
    printer = _Printer()
    flow = printer.flow
    flow.append(Paragraph(escape(f"Device History Record {record['serial_id']}"), printer.title))
    batch, product = record["batch"], record["product"]
    flow.append(
        printer.fields(
            [
                ("Serial", record["serial_id"]),
                ("Status", record["status"] + (" (force-completed)" if record["force_completed"] else "")),
                ("Product", f"{product['product_name']} ({product['product_code']})"),
                ("Master batch record", f"{product['mbr_id']} version {product['mbr_version']}"),
                ("Batch", f"{batch['batch_id']}, batch number {batch['batch_number']}, lot {batch['lot_number']}"),
                ("Site", batch["site"]),
                ("Created", _when(record["created_at"])),
                ("Completed", _when(record["completed_at"])),
                ("Record printed", _when(record["generated_at"])),
            ]
        )
    )
    force = record["force_completion"]
    if force:
        flow.append(Paragraph("Force-completion", printer.heading))
        bypassed = ", ".join(str(number) for number in force["incomplete_step_numbers"]) or "—"
        flow.append(
            printer.fields(
                [
                    ("Force-completed by", _who(force["force_completed_by"])),
                    ("At", _when(force["force_completed_at"])),
                    ("Reason", force["reason"] or "—"),
                    ("Required steps not done", bypassed),
                ]
            )
        )
    scrap = record["scrap"]
    if scrap:
        flow.append(Paragraph("Scrapped", printer.heading))
        flow.append(
            printer.fields(
                [
                    ("Scrapped by", _who(scrap["scrapped_by"])),
                    ("At", _when(scrap["scrapped_at"])),
                    ("Reason", scrap["reason"]),
                ]
            )
        )
    for step in record["steps"]:
        title = f"Step {step['step_number']}" + (" (optional)" if step["optional"] else "")
        part = [
            Paragraph(escape(title), printer.heading),
            printer.fields(
                [
                    ("Instruction", step["instruction_text"]),
                    ("Status", step["status"]),
                    ("Performed by", _who(step["performed_by"])),
                    ("Performed at", _when(step["performed_at"])),
                    ("Recorded values", _values(step["actual_values"])),
                    (
                        "Within specification",
                        "—" if step["is_within_spec"] is None else ("yes" if step["is_within_spec"] else "NO"),
                    ),
                ]
            ),
            Spacer(1, 2 * mm),
            printer.signatures(step["signatures"]),
        ]
        for waiver in step["waivers"]:
            part += [
                Spacer(1, 2 * mm),
                printer.fields(
                    [
                        ("Waiver", waiver["reason"] + ("" if waiver["active"] else " (inactive)")),
                        ("Waived by", _who(waiver["waived_by"])),
                        ("At", _when(waiver["waived_at"])),
                    ]
                ),
                Spacer(1, 1 * mm),
                printer.signatures(waiver["signatures"]),
            ]
        flow.append(KeepTogether(part))
    flow.append(Paragraph("Signatures on the unit", printer.heading))
    flow.append(printer.signatures(record["signatures"]))

    def footer(canvas, document):
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(15 * mm, 10 * mm, f"{record['serial_id']} · device history record · page {document.page}")
        canvas.restoreState()

    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"Device History Record {record['serial_id']}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=18 * mm,
    )
    document.build(flow, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()
