from django.core.management.base import BaseCommand

from core.verification import write_anchor


class Command(BaseCommand):
    help = (
        "Write the current heads of the audit trail's hash chains, signed with the audit key, to a new file in "
        "EBR_AUDIT_ANCHOR_DIR (a place the database role cannot write; run from cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dir", help="write here instead of EBR_AUDIT_ANCHOR_DIR")

    def handle(self, *args, dir=None, **options):  # noqa: A002 - the option's name
        path = write_anchor(dir)
        self.stdout.write(f"Anchor written: {path}")
