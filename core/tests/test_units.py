"""The unit table: exact Decimal conversions within a dimension, mass ↔ volume only with a
density, count to nothing else; unknown units named."""

from decimal import Decimal

import pytest

from core import units


@pytest.mark.parametrize(
    ("quantity", "source", "target", "expected"),
    [
        ("1.5", "g", "kg", "0.0015"),
        ("0.0015", "kg", "g", "1.5"),
        ("250", "mg", "g", "0.25"),
        ("1", "mcg", "mg", "0.001"),
        ("1", "μg", "µg", "1"),  # Greek mu and micro sign
        ("2", "t", "kg", "2000"),
        ("750", "mL", "L", "0.75"),
        ("5", "µL", "mL", "0.005"),
        ("12", "pcs", "each", "12"),
        ("3", "KG", "g", "3000"),
    ],
)
def test_conversions_within_a_dimension_are_exact(quantity, source, target, expected):
    result = units.convert(Decimal(quantity), source, target)
    assert isinstance(result, Decimal)
    assert result == Decimal(expected)


def test_mass_and_volume_convert_only_with_a_density():
    assert "density" in units.conversion_problem("kg", "L")
    assert units.convert(Decimal("2"), "L", "kg", density=Decimal("1.25")) == Decimal("2.5")
    assert units.convert(Decimal("2.5"), "kg", "L", density=Decimal("1.25")) == Decimal("2")
    with pytest.raises(units.UnitError, match="density"):
        units.convert(Decimal("1"), "kg", "L")


@pytest.mark.parametrize(("source", "target"), [("kg", "each"), ("unit", "mL")])
def test_count_converts_to_no_other_dimension(source, target):
    assert "do not convert" in units.conversion_problem(source, target, density=Decimal("1"))


def test_an_unknown_unit_is_named():
    with pytest.raises(units.UnitError, match="'furlong' is not a known unit"):
        units.lookup("furlong")
    assert "'bucket'" in units.conversion_problem("bucket", "kg")


def test_exact_conversion_refuses_what_the_ledger_cannot_record():
    places = Decimal("0.0001")
    assert units.convert_exactly(Decimal("1.5"), "g", "kg", places=places) == Decimal("0.0015")
    with pytest.raises(units.UnitError, match="cannot be recorded exactly"):
        units.convert_exactly(Decimal("0.05"), "g", "kg", places=places)
    with pytest.raises(units.UnitError, match="cannot be recorded exactly"):
        units.convert_exactly(Decimal("1"), "kg", "L", places=places, density=Decimal("3"))
