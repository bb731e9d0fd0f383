"""Cross-cutting suites (API fuzzing, stateful lifecycle, concurrency) use the batch
fixtures that reach states through the services."""

from batch_records.tests.conftest import (  # noqa: F401 - fixtures re-exported
    make_approved_mbr,
    make_batch,
    make_draft_mbr,
    make_started_batch,
)
