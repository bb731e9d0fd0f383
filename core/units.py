"""Units of measure: one table, exact Decimal factors (21 CFR 211.101(a): components are
weighed, measured or subdivided correctly).

Each unit belongs to one dimension (mass, volume, count) and carries the exact factor that
takes a quantity in it to the dimension's base unit (g, mL, each). Conversions multiply and
divide Decimals; nothing goes through a float. Mass and volume convert into each other only
with a density (g/mL, the same number as kg/L); count converts to nothing else.

Unit codes are matched without regard to case once the micro sign is normalised, so `KG`,
`kg` and `Kg` are one unit, and `µg`, `μg`, `ug` and `mcg` another.
"""

from dataclasses import dataclass
from decimal import Decimal, localcontext

MASS, VOLUME, COUNT = "mass", "volume", "count"
BASE_UNITS = {MASS: "g", VOLUME: "mL", COUNT: "each"}


@dataclass(frozen=True)
class Unit:
    code: str  # the canonical spelling
    dimension: str
    factor: Decimal  # one of this unit, in the dimension's base unit


_TABLE = (
    # code, dimension, factor to base, other spellings
    ("t", MASS, "1000000", ("tonne",)),
    ("kg", MASS, "1000", ()),
    ("g", MASS, "1", ()),
    ("mg", MASS, "0.001", ()),
    ("µg", MASS, "0.000001", ("ug", "mcg")),
    ("m3", VOLUME, "1000000", ("m³",)),
    ("L", VOLUME, "1000", ()),
    ("mL", VOLUME, "1", ("cm3", "cm³", "cc")),
    ("µL", VOLUME, "0.001", ("uL",)),
    ("each", COUNT, "1", ("ea", "unit", "units", "pc", "pcs", "piece", "pieces", "count")),
)

UNITS = {}
for _code, _dimension, _factor, _aliases in _TABLE:
    _unit = Unit(_code, _dimension, Decimal(_factor))
    for _spelling in (_code, *_aliases):
        UNITS[_spelling.lower()] = _unit

# Enough digits for any factor of the table times a quantity of 16 digits, so that a
# multiplication or a division that terminates is never rounded.
_PRECISION = 60


class UnitError(ValueError):
    """A unit that is not in the table, or two units that do not convert."""


def _key(code):
    return str(code).strip().replace("μ", "µ").lower()  # GREEK SMALL MU → MICRO SIGN


def lookup(code):
    """The Unit of `code`, or UnitError naming it and the known units."""
    unit = UNITS.get(_key(code)) if isinstance(code, str) else None
    if unit is None:
        known = ", ".join(code for code, *_ in _TABLE)
        raise UnitError(f"'{code}' is not a known unit of measure (known: {known}).")
    return unit


def is_known(code):
    return isinstance(code, str) and _key(code) in UNITS


def same_unit(first, second):
    """True when both codes name one unit (or are the same text, known or not)."""
    if first == second:
        return True
    return is_known(first) and is_known(second) and lookup(first) == lookup(second)


def conversion_problem(source, target, density=None):
    """Why a quantity in `source` cannot be expressed in `target` (a sentence), or None."""
    if source == target:
        return None
    try:
        source_unit, target_unit = lookup(source), lookup(target)
    except UnitError as error:
        return str(error)
    if source_unit.dimension == target_unit.dimension:
        return None
    if {source_unit.dimension, target_unit.dimension} == {MASS, VOLUME}:
        if density is None:
            return (
                f"'{source}' is a {source_unit.dimension} and '{target}' a {target_unit.dimension}: they convert "
                "only with the material's density, and it has none."
            )
        return None
    return f"'{source}' is a {source_unit.dimension} and '{target}' a {target_unit.dimension}: they do not convert."


def convert(quantity, source, target, density=None):
    """`quantity` (a Decimal) in `source` units, expressed exactly in `target` units.

    `density` is in g/mL (= kg/L) and is needed only between mass and volume. Between units
    of one dimension the result is exact; through a density it is exact when the division
    terminates within 60 significant digits (callers quantize and refuse what is lost)."""
    if not isinstance(quantity, Decimal):
        raise TypeError("convert() takes a Decimal quantity")
    problem = conversion_problem(source, target, density)
    if problem:
        raise UnitError(problem)
    if source == target:
        return quantity
    source_unit, target_unit = lookup(source), lookup(target)
    with localcontext() as context:
        context.prec = _PRECISION
        base = quantity * source_unit.factor
        if source_unit.dimension != target_unit.dimension:
            density = Decimal(density)
            base = base * density if source_unit.dimension == VOLUME else base / density
        return base / target_unit.factor


def convert_exactly(quantity, source, target, *, places, density=None):
    """`convert` to `places` (e.g. Decimal("0.0001")), or UnitError when that would lose
    part of the quantity: 1.5 g is 0.0015 kg, but 0.05 g is not a quantity of kg at 4 places."""
    converted = convert(quantity, source, target, density)
    quantized = converted.quantize(places)
    if quantized != converted:
        raise UnitError(
            f"{quantity} {source} is {converted} {target}, which cannot be recorded exactly at "
            f"{abs(places.as_tuple().exponent)} decimal places of {target}."
        )
    return quantized
