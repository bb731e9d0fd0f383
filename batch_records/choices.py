from django.db import models


class MBRStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    SUPERSEDED = "superseded", "Superseded"
    OBSOLETE = "obsolete", "Obsolete"


class BatchStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    UNDER_REVIEW = "under_review", "Under review"
    RELEASED = "released", "Released"
    REJECTED = "rejected", "Rejected"
    QUARANTINED = "quarantined", "Quarantined"
    # Not started and will not be made (kept in the records, never deleted).
    CANCELLED = "cancelled", "Cancelled"
    # Started and stopped for good; goes to QA for rejection.
    ABORTED = "aborted", "Aborted"


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    SKIPPED = "skipped", "Skipped"
    DEVIATED = "deviated", "Deviated"


class DeviationType(models.TextChoices):
    PARAMETER_EXCURSION = "parameter_excursion", "Parameter excursion"
    EQUIPMENT_FAILURE = "equipment_failure", "Equipment failure"
    MATERIAL_ISSUE = "material_issue", "Material issue"
    PROCESS_DEVIATION = "process_deviation", "Process deviation"
    DOCUMENTATION_ERROR = "documentation_error", "Documentation error"
    ENVIRONMENTAL = "environmental", "Environmental"


class BatchDeviationStatus(models.TextChoices):
    OPEN = "open", "Open"
    INVESTIGATING = "investigating", "Investigating"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class MaterialStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DISPENSED = "dispensed", "Dispensed"
    VERIFIED = "verified", "Verified"
    CONSUMED = "consumed", "Consumed"
    RETURNED = "returned", "Returned"
    # Dispensed to a batch that was aborted and destroyed rather than put back in stock.
    WRITTEN_OFF = "written_off", "Written off"


class EquipmentUsageStatus(models.TextChoices):
    NOT_STARTED = "not_started", "Not started"
    IN_USE = "in_use", "In use"
    ENDED = "ended", "Ended"


STEP_TERMINAL_STATUSES = (StepStatus.COMPLETED, StepStatus.DEVIATED, StepStatus.SKIPPED)
DEVIATION_SETTLED_STATUSES = (BatchDeviationStatus.RESOLVED, BatchDeviationStatus.CLOSED)
BATCH_FINAL_STATUSES = (BatchStatus.RELEASED, BatchStatus.REJECTED, BatchStatus.CANCELLED)
# A material line is settled once what was dispensed is accounted for (SPEC §3).
MATERIAL_RECONCILED_STATUSES = (MaterialStatus.CONSUMED, MaterialStatus.RETURNED, MaterialStatus.WRITTEN_OFF)
