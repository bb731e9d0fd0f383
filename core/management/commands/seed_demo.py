"""Demo data for a first look: a site, a product line, one user per role and, with
`--batches N`, N batches in every status made through the business services.

Idempotent: running it again keeps what exists, resets the demo passwords and adds N more
batches (with new batch numbers).
"""

import argparse
import time

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.test.utils import override_settings

from users.models import ProductLine, Site, User
from users.roles import ROLES

DEMO_PASSWORD_TEMPLATE = "Demo-{role}-2026!"
ARGON2 = "users.hashers.Argon2idRFC9106Hasher"
SEEDING_ARGON2 = "core.demo.SeedingArgon2PasswordHasher"


def demo_password(role):
    return DEMO_PASSWORD_TEMPLATE.format(role=role.replace("_", "-").title())


def demo_password_for(user):
    return demo_password(user.username)


class Command(BaseCommand):
    help = "Create demo data: a site, a product line, one user per role (passwords printed) and demo batches."

    def add_arguments(self, parser):
        parser.add_argument("--batches", type=int, default=0, help="How many demo batches to create.")
        parser.add_argument(
            "--planned",
            type=int,
            default=0,
            help="How many more batches to create as a production plan (pending: created, not executed).",
        )
        parser.add_argument(
            "--steps-min", type=int, default=20, help="Instructions of the smallest master batch record (20)."
        )
        parser.add_argument(
            "--steps-max", type=int, default=200, help="Instructions of the largest master batch record (200)."
        )
        parser.add_argument("--seed", type=int, default=2026, help="Random seed of the demo values.")
        parser.add_argument(
            "--fast-passwords",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="Check each demo user's password against its Argon2 hash once in this process and reuse the "
            "answer for every later signature (the default; the stored hashes stay Argon2). "
            "--no-fast-passwords runs Argon2 for every signature (0.1–0.3 s each).",
        )
        parser.add_argument("--quiet", action="store_true", help="Do not print the demo users.")

    def handle(self, *args, **options):
        if options["batches"] < 0 or options["planned"] < 0:
            raise CommandError("--batches and --planned must be 0 or more.")
        if not 1 <= options["steps_min"] <= options["steps_max"]:
            raise CommandError("--steps-min must be at least 1 and at most --steps-max.")
        site, line, users = self.create_people()
        if options["batches"] or options["planned"]:
            started = time.monotonic()
            if options["fast_passwords"]:
                # The configured hashers, with Argon2 verified once per (password, hash).
                hashers = [SEEDING_ARGON2 if name == ARGON2 else name for name in settings.PASSWORD_HASHERS]
                with override_settings(PASSWORD_HASHERS=hashers):
                    made = self.create_batches(site, line, users, options)
            else:
                made = self.create_batches(site, line, users, options)
            if not options["quiet"]:
                self.stdout.write(
                    self.style.SUCCESS(f"{len(made)} demo batches created in {time.monotonic() - started:.1f} s:")
                )
                for batch in made[:20]:
                    self.stdout.write(f"  {batch.batch_id:<9} {batch.batch_number:<16} {batch.status}")
                if len(made) > 20:
                    self.stdout.write(f"  … and {len(made) - 20} more")
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo users (username / password):"))
            for user in users:
                self.stdout.write(f"  {user.username:<14} {demo_password(user.username)}")

    @transaction.atomic
    def create_people(self):
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
        return site, line, users

    def create_batches(self, site, line, users, options):
        from core.demo import create_demo_batches

        def progress(done, total, batch):
            if not options["quiet"] and total > 20 and (done % max(1, total // 20) == 0 or done == total):
                self.stdout.write(f"  {done}/{total} batches ({batch.batch_id} {batch.status})")

        # Each business action is its own transaction, as it would be through the API.
        return create_demo_batches(
            options["batches"],
            planned=options["planned"],
            site=site,
            product_line=line,
            personas={user.username: user for user in users},
            password_for=demo_password_for,
            steps_min=options["steps_min"],
            steps_max=options["steps_max"],
            seed=options["seed"],
            progress=progress,
        )
