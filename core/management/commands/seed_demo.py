"""Demo data for a first look: a site, a product line and one user per role.

Idempotent: running it again keeps what exists and resets the demo passwords.
"""

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

from users.models import ProductLine, Site, User
from users.roles import ROLES

DEMO_PASSWORD_TEMPLATE = "Demo-{role}-2026!"


def demo_password(role):
    return DEMO_PASSWORD_TEMPLATE.format(role=role.replace("_", "-").title())


class Command(BaseCommand):
    help = "Create demo data: a site, a product line and one user per role (passwords printed)."

    def add_arguments(self, parser):
        parser.add_argument("--batches", type=int, default=0, help="How many demo batches to create.")
        parser.add_argument("--quiet", action="store_true", help="Do not print the demo users.")

    @transaction.atomic
    def handle(self, *args, **options):
        site, _ = Site.objects.get_or_create(code="PLANT-1", defaults={"name": "Demo manufacturing plant"})
        line, _ = ProductLine.objects.get_or_create(code="OSD", defaults={"name": "Oral solid dose"})
        users = []
        for role in ROLES:
            user, created = User.objects.get_or_create(
                username=role,
                defaults={
                    "first_name": role.replace("_", " ").title(),
                    "last_name": "Demo",
                    "email": f"{role}@demo.local",
                },
            )
            user.set_password(demo_password(role))
            user.is_staff = role in ("records_admin", "qa_approver", "qa_reviewer")
            user.save(reason="Demo data" if created else "Demo password reset")
            user.groups.add(Group.objects.get(name=role))
            user.sites.add(site)
            user.product_lines.add(line)
            users.append(user)
        if options["batches"]:
            from core.demo import create_demo_batches

            create_demo_batches(options["batches"], site=site, product_line=line)
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo users (username / password):"))
            for user in users:
                self.stdout.write(f"  {user.username:<14} {demo_password(user.username)}")
