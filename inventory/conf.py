"""The inventory's settings, each a Django setting that the environment may also set."""

import os
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name, default):
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name, default)
    return value


def require_inventory_lots():
    """EBR_REQUIRE_INVENTORY_LOTS (default false): every dispensed material must come from an
    inventory lot (21 CFR 211.84: only released lots are used). A material registered in the
    inventory must always; this extends the rule to material codes not registered yet, whose
    lot number is otherwise kept as free text, drawn from no lot."""
    value = _raw("EBR_REQUIRE_INVENTORY_LOTS", False)
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ImproperlyConfigured(f"EBR_REQUIRE_INVENTORY_LOTS must be true or false, not {value!r}.")


def _non_negative_decimal(name, default):
    raw = _raw(name, default)
    try:
        number = Decimal(str(raw))
    except InvalidOperation as error:
        raise ImproperlyConfigured(f"{name} must be a number, not {raw!r}.") from error
    if not number.is_finite() or number < 0:
        raise ImproperlyConfigured(f"{name} must be a number ≥ 0, not {raw!r}.")
    return number


def labour_hourly_rate():
    """EBR_LABOUR_HOURLY_RATE (default 45.00): cost of one hour of step execution."""
    return _non_negative_decimal("EBR_LABOUR_HOURLY_RATE", "45.00")


def overhead_percent():
    """EBR_OVERHEAD_PERCENT (default 15): overhead as a percentage of material + labour."""
    return _non_negative_decimal("EBR_OVERHEAD_PERCENT", "15")
