from django.db import models


class LotStatus(models.TextChoices):
    QUARANTINE = "quarantine", "Quarantine"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class MovementKind(models.TextChoices):
    RECEIPT = "receipt", "Receipt"
    ADJUSTMENT = "adjustment", "Adjustment"
    CONSUMPTION = "consumption", "Consumption"
    RETURN = "return", "Return"
    PRODUCTION = "production", "Production"
