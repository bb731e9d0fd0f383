"""What the demo plant makes, and how: four oral-solid-dose products with their bills of
materials, the manufacturing instructions of their processes (from a few steps to 200),
and the statuses the demo batches end in."""

from dataclasses import dataclass
from decimal import Decimal

from batch_records.choices import BatchStatus

# The order statuses are handed out in: a handful of batches shows the most useful ones
# first (a released record, one to execute, one to review, one to start...).
STATUS_PRIORITY = (
    BatchStatus.RELEASED,
    BatchStatus.IN_PROGRESS,
    BatchStatus.UNDER_REVIEW,
    BatchStatus.PENDING,
    BatchStatus.REJECTED,
    BatchStatus.QUARANTINED,
    BatchStatus.COMPLETED,
    BatchStatus.CANCELLED,
    BatchStatus.ABORTED,
)
# Past the first nine, a plant's mix: most batches released, some in each other state.
STATUS_PATTERN = (
    [BatchStatus.RELEASED] * 9
    + [BatchStatus.UNDER_REVIEW] * 3
    + [BatchStatus.IN_PROGRESS] * 2
    + [BatchStatus.PENDING] * 2
    + [BatchStatus.COMPLETED] * 2
    + [BatchStatus.REJECTED, BatchStatus.QUARANTINED]
)

QUANTITY_PLANNED = Decimal("200000")  # tablets per batch
# Dispensing overage: a little more than required is weighed out; the rest goes back.
DISPENSE_OVERAGE = Decimal("1.01")
MATERIAL_PLACES = Decimal("0.0001")


# --- what the plant makes ------------------------------------------------------------------


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    title: str
    bill_of_materials: tuple


PRODUCTS = (
    Product(
        "PCM-500",
        "Paracetamol 500 mg tablets",
        "Paracetamol 500 mg tablets — wet granulation, compression",
        (
            ("API-PCM", "Paracetamol Ph. Eur.", "0.000500", "kg"),
            ("EXC-MCC", "Microcrystalline cellulose PH101", "0.000060", "kg"),
            ("EXC-PVP", "Povidone K30", "0.000015", "kg"),
            ("EXC-MGS", "Magnesium stearate", "0.000005", "kg"),
        ),
    ),
    Product(
        "IBU-200",
        "Ibuprofen 200 mg film-coated tablets",
        "Ibuprofen 200 mg film-coated tablets — granulation, compression, coating",
        (
            ("API-IBU", "Ibuprofen 50 µm", "0.000200", "kg"),
            ("EXC-LAC", "Lactose monohydrate", "0.000080", "kg"),
            ("EXC-CCS", "Croscarmellose sodium", "0.000012", "kg"),
            ("COA-OPD", "Film coating system, white", "0.000009", "kg"),
        ),
    ),
    Product(
        "MET-850",
        "Metformin hydrochloride 850 mg tablets",
        "Metformin HCl 850 mg tablets — high-shear granulation, compression",
        (
            ("API-MET", "Metformin hydrochloride", "0.000850", "kg"),
            ("EXC-HPC", "Hydroxypropyl cellulose", "0.000030", "kg"),
            ("EXC-MGS", "Magnesium stearate", "0.000006", "kg"),
        ),
    ),
    Product(
        "AML-005",
        "Amlodipine 5 mg tablets",
        "Amlodipine 5 mg tablets — direct compression, blister packaging",
        (
            ("API-AML", "Amlodipine besylate", "0.000007", "kg"),
            ("EXC-MCC", "Microcrystalline cellulose PH102", "0.000120", "kg"),
            ("EXC-DCP", "Dibasic calcium phosphate", "0.000060", "kg"),
            ("EXC-SSG", "Sodium starch glycolate", "0.000004", "kg"),
            ("EXC-MGS", "Magnesium stearate", "0.000001", "kg"),
        ),
    ),
)


def _json_number(text):
    """A limit as the JSON number an author would type (5.4, 12)."""
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(text)


def _number(name, unit, low=None, high=None):
    field = {"name": name, "type": "number", "unit": unit}
    limits = {}
    if low is not None:
        limits["min"] = _json_number(low)
    if high is not None:
        limits["max"] = _json_number(high)
    return field, limits


def _boolean(name):
    return {"name": name, "type": "boolean"}, None


def _text(name):
    return {"name": name, "type": "text"}, None


# (instruction, data fields, requires second-person verification)
OPENING_STEPS = (
    (
        "Line clearance: confirm the room and equipment are free of the previous product.",
        [_boolean("line_clear")],
        True,
    ),
    (
        "Record the room conditions before processing.",
        [_number("room_temperature", "°C", "18", "25"), _number("relative_humidity", "%", "30", "60")],
        False,
    ),
    ("Check the dispensed materials against the bill of materials.", [_boolean("materials_match_bom")], True),
    (
        "Charge the API and intragranular excipients into the high-shear granulator; dry-mix.",
        [_number("dry_mix_time", "min", "4", "6"), _number("impeller_speed", "rpm", "150", "250")],
        False,
    ),
    ("Add the binder solution at a constant rate.", [_number("binder_addition_time", "min", "3", "6")], True),
    ("Wet-mass until the granule end point.", [_number("wet_mass_time", "min", "2", "4")], False),
    (
        "Dry the granules in the fluid-bed dryer.",
        [_number("inlet_temperature", "°C", "55", "65"), _number("loss_on_drying", "%", "1.0", "2.5")],
        True,
    ),
    (
        "Mill the dried granules through the conical mill.",
        [_text("screen_size"), _number("mill_speed", "rpm", "800", "1200")],
        False,
    ),
    ("Blend with the extragranular excipients.", [_number("blend_time", "min", "9", "11")], False),
    ("Add the lubricant and blend.", [_number("lubrication_time", "min", "2", "4")], True),
    (
        "Set up the tablet press; record the start-up tablet weight.",
        [_number("tablet_weight", "mg", "495", "505")],
        True,
    ),
)
IN_PROCESS_CHECK = (
    "In-process control during compression, sample {sample}: weigh 10 tablets, measure hardness and thickness.",
    [
        _number("tablet_weight", "mg", "495", "505"),
        _number("hardness", "kP", "8", "12"),
        _number("thickness", "mm", "5.4", "5.8"),
    ],
    False,
)
CLOSING_STEPS = (
    ("Friability test on 20 tablets.", [_number("friability", "%", None, "1.0")], False),
    ("Disintegration test on 6 tablets.", [_number("disintegration_time", "min", None, "15")], False),
    ("Reconcile the compressed tablets.", [_number("tablets_compressed", "tablets"), _text("remarks")], True),
    ("Visual inspection of a 200-tablet sample.", [_number("defects_found", "tablets", None, "2")], False),
    ("Transfer the bulk to labelled containers; record container count.", [_number("containers", "pcs")], False),
    ("Clean the tablet press and record the cleaning.", [_boolean("press_cleaned"), _text("remarks")], True),
    ("Line clearance after processing.", [_boolean("line_clear")], True),
)


def instruction_templates(steps):
    """`steps` instruction templates: the opening and closing of the process around as many
    in-process controls as it takes (fewer steps keep an even selection of the fixed ones)."""
    fixed = len(OPENING_STEPS) + len(CLOSING_STEPS)
    if steps <= fixed:
        chosen = [*OPENING_STEPS, *CLOSING_STEPS]
        return [chosen[round(index * (fixed - 1) / max(steps - 1, 1))] for index in range(steps)]
    checks = steps - fixed
    middle = []
    for sample in range(1, checks + 1):
        text, fields, verified = IN_PROCESS_CHECK
        middle.append((text.format(sample=f"{sample} of {checks}"), fields, verified))
    return [*OPENING_STEPS, *middle, *CLOSING_STEPS]


def manufacturing_instructions(steps):
    instructions = []
    for number, (text, fields, verified) in enumerate(instruction_templates(steps), start=1):
        specifications = {field["name"]: limits for field, limits in fields if limits}
        instructions.append(
            {
                "step_number": number,
                "instruction_text": text,
                "required_data_fields": [field for field, _ in fields],
                "specifications": specifications,
                "requires_verification": verified,
            }
        )
    return instructions


def mbr_sizes(count, steps_min, steps_max):
    """`count` step counts from `steps_min` to `steps_max`, evenly spread on a log scale."""
    if count == 1 or steps_min == steps_max:
        return [steps_max] * count
    ratio = (steps_max / steps_min) ** (1 / (count - 1))
    return [round(steps_min * ratio**index) for index in range(count)]


def status_plan(count):
    """The status each of `count` demo batches ends in: every status once as soon as there
    are nine, then a realistic mix."""
    plan = list(STATUS_PRIORITY[:count])
    pattern = STATUS_PATTERN
    plan.extend(pattern[index % len(pattern)] for index in range(count - len(plan)))
    return plan
