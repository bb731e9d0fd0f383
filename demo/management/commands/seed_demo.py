"""Demo data for a first look: a site, a product line, one user per role and, with
`--batches N`, N batches in every status made through the business services.

Idempotent: running it again keeps what exists, resets the demo passwords and adds N more
batches (with new batch numbers); with `--once`, it adds batches only when the demo site
has none yet (what `make run` does, so that running it again adds nothing).
"""

import argparse
import time

from django.core.management.base import BaseCommand, CommandError

from batch_records.models import BatchRecord
from demo.hashers import fast_signatures
from demo.people import create_demo_people, demo_password, demo_password_for
from demo.plant import create_demo_batches


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
            "--once",
            action="store_true",
            help="Create the batches only if the demo site has none yet (users and passwords are still "
            "reset and printed): running the command again adds no batches.",
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
        site, line, users = create_demo_people()
        wanted = options["batches"] or options["planned"]
        existing = BatchRecord.objects.filter(site=site).count() if options["once"] else 0
        if wanted and existing:
            if not options["quiet"]:
                self.stdout.write(f"The demo site already has {existing} batches: none added (--once).")
        elif wanted:
            self.seed_batches(site, line, users, options)
        if not options["quiet"]:
            self.stdout.write(self.style.SUCCESS("Demo users (username / password):"))
            for user in users:
                self.stdout.write(f"  {user.username:<14} {demo_password(user.username)}")

    def seed_batches(self, site, line, users, options):
        started = time.monotonic()
        if options["fast_passwords"]:
            with fast_signatures():
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

    def create_batches(self, site, line, users, options):
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
