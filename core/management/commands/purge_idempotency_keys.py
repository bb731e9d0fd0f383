from django.core.management.base import BaseCommand
from django.utils import timezone

from core.api.idempotency import IDEMPOTENCY_KEY_TTL
from core.models import IdempotencyKey


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than 24 hours (run daily)."

    def handle(self, *args, **options):
        cutoff = timezone.now() - IDEMPOTENCY_KEY_TTL
        # Not an audited table: stored responses are transient plumbing.
        deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
        self.stdout.write(f"Deleted {deleted} expired idempotency keys.")
