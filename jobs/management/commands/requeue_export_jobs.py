from datetime import timedelta

from django.core.management.base import BaseCommand

from jobs.services import requeue_stalled


class Command(BaseCommand):
    help = "Hand again to the queue the export jobs still queued after --minutes (their message was lost)."

    def add_arguments(self, parser):
        parser.add_argument("--minutes", type=int, default=10)

    def handle(self, *args, minutes, **options):
        count = requeue_stalled(older_than=timedelta(minutes=minutes))
        self.stdout.write(f"{count} export job(s) handed to the queue again.")
