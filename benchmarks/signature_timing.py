"""Time one Argon2 password verification and one sign() call, and the memory they hold.

    .venv/bin/python benchmarks/signature_timing.py            # the production hasher
    .venv/bin/python benchmarks/signature_timing.py --compare  # Django's defaults vs ours

Uses the production password hasher (users.hashers, RFC 9106 second option) in a
throwaway test database; prints the median (min–max) of 20 runs of each, the process's
peak RSS before and after the verifications (the growth is what one verification holds),
and the machine's load average. `--compare` runs each hasher in its own fresh process so
that the peaks do not mask each other.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CACHE_URL", "locmem://")

RUNS = 20
PASSWORD = "Correct-Horse-Battery-42"
HASHERS = {
    "django-default": "django.contrib.auth.hashers.Argon2PasswordHasher",
    "rfc9106": "users.hashers.Argon2idRFC9106Hasher",
}


def median_ms(function):
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        function()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), min(timings), max(timings)


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(hasher_path, with_sign):
    import django

    django.setup()
    from django.contrib.auth.hashers import check_password, make_password
    from django.db import connection, transaction
    from django.test.utils import override_settings, setup_test_environment

    before = peak_rss_mb()  # Django loaded, no Argon2 run yet
    with override_settings(PASSWORD_HASHERS=[hasher_path]):
        encoded = make_password(PASSWORD)
        print(f"hasher: {hasher_path} ({'$'.join(encoded.split('$')[:4])})")
        verify = median_ms(lambda: check_password(PASSWORD, encoded))
        after = peak_rss_mb()
        print(f"password verification: median {verify[0]:.1f} ms (min {verify[1]:.1f}, max {verify[2]:.1f})")
        print(f"peak RSS: {before:.0f} MB with Django loaded, {after:.0f} MB after hashing (+{after - before:.0f} MB)")
        if not with_sign:
            return
        setup_test_environment()
        old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        try:
            from core.services import sign
            from documents.models import Document
            from users.models import Site, User

            signer = User.objects.create_user("timing", password=PASSWORD, first_name="Timing", last_name="Signer")
            site = Site.objects.create(code="TIMING", name="Timing")
            document = Document.objects.create(title="Timing", site=site)

            def one_signature():
                with transaction.atomic():
                    sign(document, signer=signer, password=PASSWORD, meaning="reviewed")

            signed = median_ms(one_signature)
            print(f"sign(): median {signed[0]:.1f} ms (min {signed[1]:.1f}, max {signed[2]:.1f})")
        finally:
            connection.creation.destroy_test_db(old_name, verbosity=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", action="store_true", help="Django's default Argon2 parameters vs ours")
    parser.add_argument("--hasher", choices=sorted(HASHERS), default="rfc9106")
    parser.add_argument("--no-sign", action="store_true", help="time the verification only (no database)")
    options = parser.parse_args()
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    if options.compare:
        for name in HASHERS:
            subprocess.run(  # noqa: S603 — this script, fixed arguments
                [sys.executable, __file__, "--hasher", name, *(["--no-sign"] if options.no_sign else [])],
                check=True,
            )
    else:
        measure(HASHERS[options.hasher], with_sign=not options.no_sign)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
