"""What one link of the audit trail's hash chain adds to a write (docs/audit-trail.md).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ebr_bench .venv/bin/python benchmarks/audit_chain_cost.py

In a throwaway test database, in this process: the same write — a document saved with a
reason (one record row, one history row) in its own transaction — timed with the chain and
with the chain's receivers disconnected, alternately, RUNS times each; then link() alone
(the head upsert, the HMAC, the head update); then the verification of the document's chain.
Prints medians and the 90th percentile.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CACHE_URL", "locmem://")

RUNS = 400


def summary(timings):
    ordered = sorted(timings)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9)]


def main():
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import setup_test_environment
    from simple_history.signals import pre_create_historical_record

    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        from core.chain import link, link_history_row
        from documents.models import Document
        from users.models import Site, User

        user = User.objects.create_user("timing", password="Timing-Password-42", first_name="T", last_name="U")
        site = Site(code="TIMING", name="Timing")
        site.save(actor=user)
        document = Document(title="Timing", site=site)
        document.save(actor=user)

        def one_write(index):
            start = time.perf_counter()
            with transaction.atomic():
                document.title = f"Timing {index}"
                document.save(actor=user, reason="timing")
            return (time.perf_counter() - start) * 1000

        for index in range(50):  # warm-up: connections, prepared statements, caches
            one_write(index)
        chained, unchained = [], []
        for index in range(RUNS):
            chained.append(one_write(index))
            pre_create_historical_record.disconnect(link_history_row, dispatch_uid="core.chain.history")
            try:
                unchained.append(one_write(index))
            finally:
                pre_create_historical_record.connect(link_history_row, dispatch_uid="core.chain.history")

        history = Document.history.model
        row = history(id=document.pk, title="x", version="1", history_type="~", history_date=document.updated_at)
        links = []
        for _ in range(RUNS):
            with transaction.atomic():
                start = time.perf_counter()
                link(row, "timing:1")
                links.append((time.perf_counter() - start) * 1000)
                row.chain_hash = ""

        from core.chain import audit_keys, content_fields, link_hash, row_content

        computed = []
        for _ in range(RUNS):
            start = time.perf_counter()
            values = {field.attname: getattr(row, field.attname) for field in content_fields(history)}
            content = row_content(history, values)
            link_hash(audit_keys()[0], aggregate="timing:1", seq=1, previous="", table="t", content=content)
            computed.append((time.perf_counter() - start) * 1000)

        from core.chain import aggregate_key
        from core.verification import verify_aggregate

        start = time.perf_counter()
        report = verify_aggregate(aggregate_key(Document, document.pk))
        verify_seconds = time.perf_counter() - start
        assert report.intact, report.breaks

        with_chain, without_chain, link_alone = summary(chained), summary(unchained), summary(links)
        print(f"database: {connection.vendor}, {RUNS} runs each")
        print(f"write with the chain:    median {with_chain[0]:.3f} ms, p90 {with_chain[1]:.3f} ms")
        print(f"write without the chain: median {without_chain[0]:.3f} ms, p90 {without_chain[1]:.3f} ms")
        print(f"added by one link:       median {with_chain[0] - without_chain[0]:.3f} ms")
        print(f"link() alone:            median {link_alone[0]:.3f} ms, p90 {link_alone[1]:.3f} ms")
        print(f"canonical form + HMAC:   median {summary(computed)[0]:.3f} ms (the rest of link() is the database)")
        print(f"verify_aggregate: {report.links} links in {verify_seconds * 1000:.0f} ms")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
