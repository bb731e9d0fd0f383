"""Issue 8: master batch records are visible by product line (they are not site-bound)."""

import pytest

from users.tests.factories import ProductLineFactory

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/master-batch-records/"


def _codes(client):
    return sorted(row["product_code"] for row in client.get(URL).json()["results"])


def test_users_with_product_lines_see_only_those_lines_and_unassigned_mbrs(make_draft_mbr, operator, api_client_for):
    solids, liquids = ProductLineFactory(code="OSD"), ProductLineFactory(code="LIQ")
    make_draft_mbr(product_code="TAB-1", product_line=solids)
    hidden = make_draft_mbr(product_code="SYR-1", product_line=liquids)
    make_draft_mbr(product_code="GEN-1", product_line=None)
    operator.product_lines.add(solids)
    client = api_client_for(operator)

    assert _codes(client) == ["GEN-1", "TAB-1"]
    assert client.get(f"{URL}{hidden.pk}/").status_code == 404


def test_users_without_product_lines_see_every_mbr(make_draft_mbr, operator, api_client_for):
    make_draft_mbr(product_code="TAB-1", product_line=ProductLineFactory(code="OSD"))
    make_draft_mbr(product_code="SYR-1", product_line=ProductLineFactory(code="LIQ"))
    assert _codes(api_client_for(operator)) == ["SYR-1", "TAB-1"]


def test_a_batch_cannot_be_created_from_an_mbr_of_another_product_line(
    make_approved_mbr, verifier, site, api_client_for
):
    liquids = ProductLineFactory(code="LIQ")
    mbr = make_approved_mbr(product_code="SYR-9", product_line=liquids)
    verifier.product_lines.add(ProductLineFactory(code="OSD"))
    response = api_client_for(verifier).post(
        "/api/batch_records/batch-records/",
        {"mbr": mbr.pk, "batch_number": "X1", "lot_number": "L1", "quantity_planned": "10", "site": site.pk},
    )
    assert response.status_code == 400
    assert "mbr" in response.json()["errors"]
