from django.db import models


class SerialStatus(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    SCRAPPED = "scrapped", "Scrapped"


class SerialStepState(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    WAIVED = "waived", "Waived"


# A unit's step that needs nothing more: performed, or waived with a signed reason.
STEP_DONE_STATES = (SerialStepState.COMPLETED, SerialStepState.WAIVED)
