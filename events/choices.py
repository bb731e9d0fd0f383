from django.db import models


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    # Every retry failed: kept for inspection and re-delivery on demand.
    DEAD = "dead", "Dead letter"
