from django.db import models


class OrderStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


# An order in these statuses takes no new batch (seed 000: a closed job takes no batches).
ORDER_PLANNING_STATUSES = (OrderStatus.OPEN, OrderStatus.IN_PROGRESS)
