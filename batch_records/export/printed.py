"""What the printed batch record says, as plain data: the export document laid out in
blocks (headings, label/value lists, tables of rows), every value already text.

Cell and value text is a small markup: XML-escaped text with `<br/>` line breaks and, where
a word must stand out, `<b>` and `<font color>`. Labels, titles and column names are plain
text. Nothing here knows ReportLab: `pdf.render` lays these blocks out on pages.
"""

import json
from dataclasses import dataclass
from xml.sax.saxutils import escape

from .document import CORRECTED

ARROW = "→"


# --- blocks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Text:
    """A paragraph: `style` is one of title, h2, body, intro."""

    markup: str
    style: str = "body"


@dataclass(frozen=True)
class Banner:
    """The release state across the page: green when released, red otherwise."""

    text: str
    released: bool


@dataclass(frozen=True)
class Pairs:
    """Label/value pairs printed two to a row."""

    items: list  # [(label, value markup)]


@dataclass(frozen=True)
class Row:
    """A table row: `kind` None, "alert" (highlighted) or "note" (two cells, the second one
    spanning the remaining columns, highlighted)."""

    cells: list  # [markup]
    kind: str | None = None


@dataclass(frozen=True)
class Grid:
    """A table with a header row. `columns` are (title, width share); `groups` are lists of
    rows kept in the same printed table (a step and the note about its correction)."""

    columns: tuple
    groups: list


@dataclass(frozen=True)
class PrintedRecord:
    """The printed record: its blocks, and what every page's header and footer say."""

    title: str
    subject: str
    running_title: str
    footer: str
    state: str
    released: bool
    blocks: list


# --- values as text -------------------------------------------------------------------


def plain(value):
    """Any JSON value as one line of printed text."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return str(value)


def markup(value):
    return escape(plain(value)).replace("\n", "<br/>")


def when(value):
    """ "2026-03-01 08:15:00" from an export timestamp (always UTC), "—" when absent."""
    if not value:
        return "—"
    return value[:19].replace("T", " ")


def who(person, at=None):
    if not person:
        return "—"
    text = f"{escape(person['name'])} ({escape(person['username'])})"
    return f"{text}<br/>{when(at)}" if at else text


def _count(number, one, many=None):
    return f"{number} {one if number == 1 else many or one + 's'}"


def _limits(field):
    low, high = field["min"], field["max"]
    if low is None and high is None:
        return ""
    return f" (limits {plain(low) if low is not None else '—'} – {plain(high) if high is not None else '—'})"


# --- sections -------------------------------------------------------------------------

SIGNATURE_COLUMNS = (
    ("Record", 100),
    ("Meaning", 55),
    ("Printed name", 120),
    ("Username", 80),
    ("Signed at (UTC)", 80),
    ("Status", 60),
    ("Comment", 179),
    ("Valid", 100),
)


def _signatures(signatures):
    rows = []
    for signature in signatures:
        valid = "valid" if signature["valid"] else "<b>NO LONGER VALID</b>: the record changed after signing"
        cells = [
            escape(signature["record"]),
            escape(signature["meaning"]),
            escape(signature["signer_name"]),
            escape(signature["signer"]),
            when(signature["signed_at"]),
            markup(signature["record_status"]),
            markup(signature["comment"]),
            f"{valid}<br/>HMAC {signature['content_hash'][:16]}…",
        ]
        rows.append([Row(cells, None if signature["valid"] else "alert")])
    return Grid(SIGNATURE_COLUMNS, rows)


def _header(document):
    header, mbr = document["header"], document["master_batch_record"]
    limits = f"{plain(header['yield_limit_min'])} – {plain(header['yield_limit_max'])} %"
    yield_text = f"{header['yield_percentage']} %" if header["yield_percentage"] is not None else "—"
    items = [
        ("Batch ID", escape(header["batch_id"])),
        ("Status", escape(header["status"])),
        ("Batch number", escape(header["batch_number"])),
        ("Lot number", escape(header["lot_number"])),
        ("Product", f"{escape(header['product_code'])} {escape(header['product_name'])}"),
        ("Site", f"{escape(header['site']['code'])} {escape(header['site']['name'])}"),
        ("Production line", markup(header["production_line"])),
        ("Quantity planned", markup(header["quantity_planned"])),
        ("Quantity produced", markup(header["quantity_produced"])),
        ("Quantity rejected", markup(header["quantity_rejected"])),
        ("Yield (of theoretical)", escape(yield_text)),
        ("Yield limits", escape(limits)),
        ("Started (UTC)", when(header["started_at"])),
        ("Completed (UTC)", when(header["completed_at"])),
        ("Reviewed by", who(header["reviewed_by"], header["reviewed_at"])),
        ("Released by", who(header["released_by"], header["released_at"])),
        ("Released (UTC)", when(header["released_at"])),
        ("Disposition reason", markup(header["disposition_reason"])),
        ("Deviations", "yes" if header["has_deviations"] else "no"),
        ("Review by exception", "yes" if header["review_by_exception"] else "no"),
        ("Exported (UTC)", when(header["exported_at"])),
        ("Exported by", who(header["exported_by"])),
    ]
    mbr_items = [
        ("MBR", f"{escape(mbr['mbr_id'])} version {mbr['version']}"),
        ("MBR status", escape(mbr["status"])),
        ("Title", escape(mbr["title"])),
        ("Effective date", markup(mbr["effective_date"])),
        ("Author", who(mbr["author"])),
        ("Approved by", who(mbr["approved_by"], mbr["approval_date"])),
    ]
    summary = document["summary"]
    counts = (
        f"{_count(summary['steps'], 'step')} ({summary['corrected_steps']} corrected), "
        f"{_count(summary['signatures'], 'signature')} ({summary['signatures_no_longer_valid']} no longer valid), "
        f"{_count(summary['deviations'], 'deviation')}, "
        f"{_count(summary['audit_entries'], 'audit trail entry', 'audit trail entries')}."
    )
    verification = document["audit_verification"]
    head = verification["head"]
    counts += (
        f" Audit trail hash chain: {'intact' if verification['intact'] else 'BROKEN'}, "
        f"{verification['links']} links, head #{head['seq']} {head['hash'][:16]}…"
    )
    return [
        Text(f"Executed batch record {escape(header['batch_id'])}", "title"),
        Banner(header["release_state"], header["released"]),
        Pairs(items),
        Text(escape(counts)),
        Text("Master batch record", "h2"),
        Pairs(mbr_items),
        Text("Approval signatures of the master batch record", "intro"),
        _signatures(mbr["signatures"]),
    ]


def _materials(materials):
    rows = []
    for material in materials:
        ended = who(material["consumed_by"], material["consumed_at"])
        if material["returned_at"]:
            ended = f"returned {when(material['returned_at'])}: {markup(material['return_reason'])}"
        cells = [
            str(material["line_number"]),
            f"{escape(material['material_code'])}<br/>{escape(material['material_name'])}",
            markup(material["lot_number"]),
            markup(material["quantity_required"]),
            markup(material["quantity_dispensed"]),
            markup(material["quantity_used"]),
            escape(material["unit_of_measure"]),
            escape(material["status"]),
            who(material["dispensed_by"], material["dispensed_at"]),
            who(material["verified_by"], material["verified_at"]),
            ended,
        ]
        rows.append([Row(cells)])
    columns = (
        ("Line", 25),
        ("Material", 130),
        ("Lot", 70),
        ("Required", 55),
        ("Dispensed", 55),
        ("Used", 55),
        ("Unit", 30),
        ("Status", 50),
        ("Dispensed by", 100),
        ("Verified by", 100),
        ("Consumed / returned", 104),
    )
    return Grid(columns, rows)


def _equipment(equipment):
    rows = []
    for usage in equipment:
        name = " ".join(part for part in (usage["equipment_id"], usage["equipment_name"]) if part)
        if usage["equipment_id_manual"]:
            name += f" [{usage['equipment_id_manual']}]"
        calibration = who(usage["calibration_verified_by"], usage["calibration_verified_at"])
        cleaning = who(usage["cleaning_verified_by"], usage["cleaning_verified_at"])
        cells = [
            escape(name),
            escape(usage["status"]),
            when(usage["usage_start"]),
            when(usage["usage_end"]),
            who(usage["started_by"]),
            who(usage["ended_by"]),
            calibration if usage["calibration_verified"] else "not verified",
            cleaning if usage["cleaning_verified"] else "not verified",
        ]
        rows.append([Row(cells)])
    columns = (
        ("Equipment", 150),
        ("Status", 50),
        ("Start (UTC)", 75),
        ("End (UTC)", 75),
        ("Started by", 95),
        ("Ended by", 95),
        ("Calibration", 117),
        ("Cleaning", 117),
    )
    return Grid(columns, rows)


def _values(step):
    lines = []
    for field in step["data_fields"]:
        unit = f" {field['unit']}" if field["unit"] else ""
        verdict = ""
        if field["within_spec"] is False:
            verdict = " <b>OUT OF SPEC</b>"
        elif field["within_spec"] is True:
            verdict = " in spec"
        lines.append(
            f"<b>{escape(plain(field['name']))}</b> = {markup(field['value'])}{escape(unit)}"
            f"{escape(_limits(field))}{verdict}"
        )
    return "<br/>".join(lines) or "—"


def _correction(step):
    count = len(step["corrections"]) or step["correction_count"]
    original = ", ".join(f"{name} = {plain(value)}" for name, value in (step["original_values"] or {}).items())
    parts = [
        f"<b>{CORRECTED}</b>: value(s) changed after first entry ({count} correction(s)). "
        f"Originally recorded: {escape(original or '—')}."
    ]
    for correction in step["corrections"]:
        changed = "; ".join(
            f"{change['field']}: {plain(change['old'])} {ARROW} {plain(change['new'])}"
            for change in correction["changes"]
        )
        parts.append(
            f"Correction {correction['number']} on {when(correction['at'])} UTC by {who(correction['by'])}: "
            f"<b>{escape(changed)}</b>. Reason: {markup(correction['reason'])}"
        )
    return "<br/>".join(parts)


def _steps(steps):
    groups = []
    for step in steps:
        result = [escape(step["status"])]
        if step["is_within_spec"] is not None:
            result.append("within spec" if step["is_within_spec"] else "<b>OUT OF SPEC</b>")
        if step["corrected"]:
            result.append(f'<font color="#b00020"><b>{CORRECTED}</b></font>')
        verified = who(step["verified_by"], step["verified_at"])
        if step["requires_verification"] and not step["verified_by"]:
            verified = "required, not verified"
        elif not step["requires_verification"]:
            verified = "not required"
        notes = []
        if step["skip_reason"]:
            notes.append(f"Skipped: {markup(step['skip_reason'])}")
        if step["deviations"]:
            notes.append("Deviations: " + escape(", ".join(step["deviations"])))
        if step["deviation_notes"]:
            notes.append(markup(step["deviation_notes"]))
        cells = [
            str(step["step_number"]),
            markup(step["instruction_text"]),
            _values(step),
            "<br/>".join(result),
            who(step["performed_by"], step["performed_at"]),
            verified,
            "<br/>".join(notes) or "—",
        ]
        group = [Row(cells, "alert" if step["corrected"] else None)]
        if step["corrected"]:
            group.append(Row(["", _correction(step)], "note"))
        groups.append(group)
    columns = (
        ("#", 24),
        ("Instruction", 170),
        ("Recorded values and limits", 200),
        ("Result", 70),
        ("Performed by", 105),
        ("Verified by", 105),
        ("Notes", 100),
    )
    return Grid(columns, groups)


def _deviations(deviations):
    rows = []
    for deviation in deviations:
        resolution = deviation["resolution"]
        resolved = []
        if resolution["resolved_by"]:
            resolved.append("Resolved by " + who(resolution["resolved_by"], resolution["resolved_at"]))
        if resolution["closed_by"]:
            resolved.append("Closed by " + who(resolution["closed_by"], resolution["closed_at"]))
        for label, key in (("QMS deviation", "linked_deviation"), ("CAPA", "linked_capa")):
            if deviation[key]:
                resolved.append(f"{label} {escape(deviation[key])}")
        where = f"Step {deviation['step_number']}" if deviation["step_number"] is not None else ""
        if deviation["material"]:
            where = " ".join(filter(None, [where, deviation["material"]]))
        actions = (
            f"Impact: {markup(deviation['impact_assessment'])}<br/>"
            f"Immediate action: {markup(deviation['immediate_action'])}"
        )
        cells = [
            f"<b>{escape(deviation['deviation_id'])}</b><br/>{when(deviation['opened_at'])}",
            escape(deviation["deviation_type"].replace("_", " ")),
            escape(deviation["status"]),
            markup(where),
            markup(deviation["description"]),
            markup(deviation["root_cause"]),
            actions,
            "<br/>".join(resolved) or "—",
        ]
        rows.append([Row(cells)])
    columns = (
        ("ID / opened (UTC)", 70),
        ("Type", 70),
        ("Status", 50),
        ("Step / material", 60),
        ("Description", 190),
        ("Root cause", 120),
        ("Actions", 110),
        ("Resolution", 104),
    )
    return Grid(columns, rows)


def _changes(changes):
    lines = []
    for change in changes:
        if change["old"] is None:
            text = f"{change['field']}: {plain(change['new'])}"
        else:
            text = f"{change['field']}: {plain(change['old'])} {ARROW} {plain(change['new'])}"
        lines.append(escape(text))
    return "<br/>".join(lines) or "—"


def _audit(entries):
    rows = []
    for entry in entries:
        user = f"{entry['user_name']} ({entry['user']})" if entry["user"] else "system"
        cells = [
            when(entry["at"]),
            escape(entry["record"]),
            entry["action"],
            escape(user),
            markup(entry["reason"]),
            _changes(entry["changes"]),
        ]
        rows.append([Row(cells)])
    columns = (("Time (UTC)", 78), ("Record", 95), ("Action", 42), ("User", 95), ("Reason", 150), ("Changes", 314))
    return Grid(columns, rows)


def printed_record(document):
    """The export document as the blocks of its printed copy."""
    header = document["header"]
    exporter = header["exported_by"] or {"name": "", "username": ""}
    return PrintedRecord(
        title=f"{header['batch_id']} executed batch record",
        subject=header["release_state"],
        running_title=(
            f"{header['batch_id']} · Executed batch record · {header['product_code']} {header['product_name']} · "
            f"batch {header['batch_number']} · lot {header['lot_number']}"
        ),
        footer=(
            f"Exported {when(header['exported_at'])} UTC by {exporter['name']} ({exporter['username']}). "
            "Printed copy of the electronic batch record."
        ),
        state=header["release_state"],
        released=header["released"],
        blocks=[
            *_header(document),
            Text("Materials", "h2"),
            _materials(document["materials"]),
            Text("Equipment use", "h2"),
            _equipment(document["equipment"]),
            Text("Steps", "h2"),
            _steps(document["steps"]),
            Text("Deviations", "h2"),
            _deviations(document["deviations"]),
            Text("Electronic signatures", "h2"),
            Text(
                "Every signature on the batch and its steps, materials, equipment use and deviations. "
                "Valid: the record still has the content it had when signed (keyed hash, HMAC-SHA-256).",
                "intro",
            ),
            _signatures(document["signatures"]),
            Text("Audit trail", "h2"),
            Text(
                "Every change to the batch and its children, oldest first: who, when (UTC), why, and each field's "
                "old and new value.",
                "intro",
            ),
            _audit(document["audit_trail"]),
        ],
    )
