"""End to end in a real browser: a records administrator signs in to the admin and opens a
batch made through the services; the page shows the batch with its step rows and status
badges. A screenshot is kept in test-artifacts/admin-batch.png.

Runs in a headless Chromium driven by Playwright (Debian's `chromium` package; Playwright's
own browser downloads are not used). Skipped when the browser is not installed.
"""

from decimal import Decimal
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def executed_batch(author, qa_approver, verifier, operator):
    """A started batch whose first step was performed and signed, with a deviation reported
    and equipment logged: everything through the services."""
    from batch_records.services.batches import create_batch, start_batch
    from batch_records.services.deviations import open_batch_deviation
    from batch_records.services.equipment_usage import add_batch_equipment
    from batch_records.services.mbr import approve_mbr, submit_mbr
    from batch_records.services.steps import complete_step, start_step
    from batch_records.tests.factories import MasterBatchRecordFactory
    from users.tests.factories import PASSWORD

    mbr = approve_mbr(
        submit_mbr(MasterBatchRecordFactory(author=author), actor=author), actor=qa_approver, password=PASSWORD
    )
    batch = create_batch(
        mbr,
        actor=verifier,
        batch_number="B-E2E-001",
        lot_number="L-E2E-001",
        quantity_planned=Decimal("100"),
        site=verifier.sites.get(),
    )
    batch = start_batch(batch, actor=operator)
    step = start_step(batch.steps.get(step_number=1), actor=operator)
    complete_step(step, actor=operator, actual_values={"blend_time": 10}, password=PASSWORD)
    open_batch_deviation(batch, actor=operator, deviation_type="environmental", description="Room humidity 68 %")
    add_batch_equipment(batch, actor=operator, equipment_name="Blender V-200", equipment_id_manual="BL-200")
    return batch


def test_records_admin_opens_a_batch_with_its_steps_in_a_browser(live_server, records_admin, executed_batch):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the playwright package")
    from users.tests.factories import PASSWORD

    records_admin.is_staff = True
    records_admin.save()
    batch_url = f"{live_server.url}/admin/batch_records/batchrecord/{executed_batch.pk}/change/"
    ARTIFACTS.mkdir(exist_ok=True)

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(f"{live_server.url}/admin/login/?next={batch_url.removeprefix(live_server.url)}")
            page.fill("#id_username", records_admin.username)
            page.fill("#id_password", PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(batch_url)

            heading = page.locator("#content h2").first.inner_text()
            step_rows = page.locator("#steps-group tbody tr.has_original")
            step_count = step_rows.count()
            first_step = step_rows.first.inner_text()
            badges = page.locator(".status-badge")
            badge_count = badges.count()
            batch_badge = page.locator("div.field-status_badge .status-badge").inner_text()
            page.screenshot(path=str(ARTIFACTS / "admin-batch.png"), full_page=True)
        finally:
            browser.close()

    assert executed_batch.batch_id in heading
    assert step_count == 3
    assert "Dispense and blend for 10 minutes." in first_step
    assert "Completed" in first_step
    assert batch_badge == "In progress"
    assert badge_count >= 8  # the batch, 3 steps, 2 materials, the equipment use, the deviation
    assert (ARTIFACTS / "admin-batch.png").stat().st_size > 10_000
