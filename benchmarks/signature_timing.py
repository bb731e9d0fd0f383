"""Time one Argon2 password verification and one sign() call (issue 3).

    .venv/bin/python benchmarks/signature_timing.py

Uses the production password hasher (Argon2) in a throwaway test database; prints the
median of 20 runs of each.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CACHE_URL", "locmem://")

import django  # noqa: E402

django.setup()

from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

RUNS = 20
PASSWORD = "Correct-Horse-Battery-42"


def median_ms(function):
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), min(timings), max(timings)


def main():
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from core.services import sign
        from documents.models import Document
        from users.models import User

        encoded = make_password(PASSWORD)
        print(f"hasher: {encoded.split('$')[0]}")
        verify = median_ms(lambda: check_password(PASSWORD, encoded))
        print(f"password verification: median {verify[0]:.1f} ms (min {verify[1]:.1f}, max {verify[2]:.1f})")

        signer = User.objects.create_user("timing", password=PASSWORD, first_name="Timing", last_name="Signer")
        document = Document.objects.create(title="Timing")

        def one_signature():
            with transaction.atomic():
                sign(document, signer=signer, password=PASSWORD, meaning="reviewed")

        signed = median_ms(one_signature)
        print(f"sign(): median {signed[0]:.1f} ms (min {signed[1]:.1f}, max {signed[2]:.1f})")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
