"""SPEC §3: the JSON content of an MBR is validated on every write, and again at submit
and approve; a 400 names the path of the bad element."""

import pytest
from django.core.exceptions import ValidationError

from batch_records.models import MasterBatchRecord
from batch_records.services.mbr import approve_mbr, submit_mbr
from batch_records.tests.factories import bill_of_materials, manufacturing_instructions, quality_specifications
from users.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
URL = "/api/batch_records/master-batch-records/"


def content(**overrides):
    values = {
        "bill_of_materials": bill_of_materials(),
        "manufacturing_instructions": manufacturing_instructions(),
        "quality_specifications": quality_specifications(),
    }
    values.update(overrides)
    return values


def steps(mutate):
    instructions = manufacturing_instructions()
    mutate(instructions)
    return {"manufacturing_instructions": instructions}


def bom(mutate):
    lines = bill_of_materials()
    mutate(lines)
    return {"bill_of_materials": lines}


def quality(mutate):
    specs = quality_specifications()
    mutate(specs)
    return {"quality_specifications": specs}


INVALID = [
    # (case, content overrides, path named, words in the message)
    (
        "spec min not a number",
        steps(lambda s: s[2]["specifications"]["hardness"].update(min="four")),
        "manufacturing_instructions[2].specifications.hardness.min",
        "must be a number",
    ),
    (
        "spec max is a boolean",
        steps(lambda s: s[0]["specifications"]["blend_time"].update(max=True)),
        "manufacturing_instructions[0].specifications.blend_time.max",
        "must be a number",
    ),
    (
        "spec min greater than max",
        steps(lambda s: s[0]["specifications"]["blend_time"].update(min=12, max=11)),
        "manufacturing_instructions[0].specifications.blend_time.min",
        "greater than max",
    ),
    (
        "spec on a text field",
        steps(lambda s: s[1]["specifications"].update(remarks={"min": 1})),
        "manufacturing_instructions[1].specifications.remarks",
        "text field",
    ),
    (
        "spec on a boolean field",
        steps(lambda s: s[1]["specifications"].update(appearance_ok={"max": 1})),
        "manufacturing_instructions[1].specifications.appearance_ok",
        "boolean field",
    ),
    (
        "spec on a field the step does not record",
        steps(lambda s: s[0]["specifications"].update(ph={"min": 6.5, "max": 7.5})),
        "manufacturing_instructions[0].specifications.ph",
        "required data field",
    ),
    (
        "unknown key in a spec",
        steps(lambda s: s[0]["specifications"]["blend_time"].update(target=10)),
        "manufacturing_instructions[0].specifications.blend_time.target",
        "unknown key",
    ),
    (
        "spec not an object",
        steps(lambda s: s[0]["specifications"].update(blend_time=[9, 11])),
        "manufacturing_instructions[0].specifications.blend_time",
        "must be an object",
    ),
    (
        "duplicate step number",
        steps(lambda s: s[1].update(step_number=1)),
        "manufacturing_instructions[1].step_number",
        "duplicate step number 1",
    ),
    (
        "step numbers not ascending",
        steps(lambda s: s.reverse()),
        "manufacturing_instructions[1].step_number",
        "greater than the previous step number",
    ),
    (
        "step number zero",
        steps(lambda s: s[0].update(step_number=0)),
        "manufacturing_instructions[0].step_number",
        "integer of at least 1",
    ),
    (
        "step number a string",
        steps(lambda s: s[0].update(step_number="1")),
        "manufacturing_instructions[0].step_number",
        "integer",
    ),
    (
        "step number a float",
        steps(lambda s: s[0].update(step_number=1.5)),
        "manufacturing_instructions[0].step_number",
        "integer",
    ),
    (
        "missing instruction text",
        steps(lambda s: s[2].pop("instruction_text")),
        "manufacturing_instructions[2].instruction_text",
        "required",
    ),
    (
        "blank instruction text",
        steps(lambda s: s[2].update(instruction_text="   ")),
        "manufacturing_instructions[2].instruction_text",
        "blank",
    ),
    (
        "missing step number",
        steps(lambda s: s[0].pop("step_number")),
        "manufacturing_instructions[0].step_number",
        "required",
    ),
    (
        "unknown key in a step",
        steps(lambda s: s[0].update(colour="blue")),
        "manufacturing_instructions[0].colour",
        "unknown key",
    ),
    (
        "requires_verification not a boolean",
        steps(lambda s: s[0].update(requires_verification="yes")),
        "manufacturing_instructions[0].requires_verification",
        "true or false",
    ),
    (
        "bad data field type",
        steps(lambda s: s[0]["required_data_fields"][0].update(type="date")),
        "manufacturing_instructions[0].required_data_fields[0].type",
        "number, text, boolean",
    ),
    (
        "data field without a name",
        steps(lambda s: s[0]["required_data_fields"][0].pop("name")),
        "manufacturing_instructions[0].required_data_fields[0].name",
        "required",
    ),
    (
        "duplicate data field name",
        steps(lambda s: s[1]["required_data_fields"][1].update(name="appearance_ok", type="text")),
        "manufacturing_instructions[1].required_data_fields[1].name",
        "duplicate field name",
    ),
    (
        "unknown key in a data field",
        steps(lambda s: s[0]["required_data_fields"][0].update(precision=2)),
        "manufacturing_instructions[0].required_data_fields[0].precision",
        "unknown key",
    ),
    (
        "required_data_fields not a list",
        steps(lambda s: s[0].update(required_data_fields={"name": "x"})),
        "manufacturing_instructions[0].required_data_fields",
        "must be a list",
    ),
    (
        "step not an object",
        steps(lambda s: s.append("Step 4: dry")),
        "manufacturing_instructions[3]",
        "must be an object",
    ),
    (
        "instructions not a list",
        {"manufacturing_instructions": {"step_number": 1}},
        "manufacturing_instructions",
        "must be a list",
    ),
    (
        "quantity zero",
        bom(lambda b: b[0].update(quantity_per_unit="0")),
        "bill_of_materials[0].quantity_per_unit",
        "greater than 0",
    ),
    (
        "quantity negative",
        bom(lambda b: b[1].update(quantity_per_unit=-0.5)),
        "bill_of_materials[1].quantity_per_unit",
        "greater than 0",
    ),
    (
        "quantity not a number",
        bom(lambda b: b[0].update(quantity_per_unit="half")),
        "bill_of_materials[0].quantity_per_unit",
        "decimal number",
    ),
    (
        "quantity NaN",
        bom(lambda b: b[0].update(quantity_per_unit="NaN")),
        "bill_of_materials[0].quantity_per_unit",
        "decimal number",
    ),
    (
        "quantity too precise",
        bom(lambda b: b[0].update(quantity_per_unit="0.0000001")),
        "bill_of_materials[0].quantity_per_unit",
        "decimal places",
    ),
    (
        "missing material code",
        bom(lambda b: b[1].pop("material_code")),
        "bill_of_materials[1].material_code",
        "required",
    ),
    (
        "missing unit of measure",
        bom(lambda b: b[0].pop("unit_of_measure")),
        "bill_of_materials[0].unit_of_measure",
        "required",
    ),
    (
        "unknown key in a BOM line",
        bom(lambda b: b[0].update(supplier="ACME")),
        "bill_of_materials[0].supplier",
        "unknown key",
    ),
    (
        "material name not a string",
        bom(lambda b: b[0].update(material_name=42)),
        "bill_of_materials[0].material_name",
        "must be a string",
    ),
    (
        "quality min greater than max",
        quality(lambda q: q[0].update(min=106)),
        "quality_specifications[0].min",
        "greater than max",
    ),
    (
        "quality max not a number",
        quality(lambda q: q[0].update(max="105")),
        "quality_specifications[0].max",
        "must be a number",
    ),
    (
        "quality parameter missing",
        quality(lambda q: q[0].pop("parameter")),
        "quality_specifications[0].parameter",
        "required",
    ),
    (
        "unknown key in a quality spec",
        quality(lambda q: q[0].update(method="HPLC")),
        "quality_specifications[0].method",
        "unknown key",
    ),
    (
        "duplicate quality parameter",
        quality(lambda q: q.append({"parameter": "assay", "min": 90})),
        "quality_specifications[1].parameter",
        "duplicate parameter",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "path", "words"), INVALID, ids=[case[0] for case in INVALID])
def test_create_with_bad_content_is_400_naming_the_path(author, api_client_for, case, overrides, path, words):
    body = {"title": "T", "product_name": "P", "product_code": "BAD-1", **content(**overrides)}

    response = api_client_for(author).post(URL, body)

    assert response.status_code == 400, response.json()
    detail = response.json()["detail"]
    assert detail.startswith(f"{path}: "), detail
    assert words in detail
    assert path in response.json()["errors"]
    assert MasterBatchRecord.objects.count() == 0


@pytest.mark.parametrize(("case", "overrides", "path", "words"), INVALID[::4], ids=[case[0] for case in INVALID[::4]])
def test_update_with_bad_content_is_400_naming_the_path_and_changes_nothing(
    author, make_draft_mbr, api_client_for, case, overrides, path, words
):
    mbr = make_draft_mbr()
    history = mbr.history.count()

    response = api_client_for(author).patch(f"{URL}{mbr.pk}/", overrides)

    assert response.status_code == 400, response.json()
    assert response.json()["detail"].startswith(f"{path}: ")
    stored = MasterBatchRecord.objects.get(pk=mbr.pk)
    assert stored.manufacturing_instructions == manufacturing_instructions()
    assert stored.bill_of_materials == bill_of_materials()
    assert stored.history.count() == history


def test_every_bad_element_is_listed(author, api_client_for):
    instructions = manufacturing_instructions()
    instructions[0]["specifications"]["blend_time"]["min"] = "x"
    instructions[2]["step_number"] = 2
    lines = bill_of_materials()
    lines[1]["quantity_per_unit"] = 0
    body = {"title": "T", "product_name": "P", "product_code": "BAD-2"}
    body.update(content(manufacturing_instructions=instructions, bill_of_materials=lines))

    errors = api_client_for(author).post(URL, body).json()["errors"]

    assert set(errors) == {
        "manufacturing_instructions[0].specifications.blend_time.min",
        "manufacturing_instructions[2].step_number",
        "bill_of_materials[1].quantity_per_unit",
    }


@pytest.mark.parametrize(
    ("limits", "field", "words"),
    [
        ({"yield_limit_min": "101", "yield_limit_max": "99"}, "yield_limit_min", "greater than yield_limit_max"),
        ({"yield_limit_min": "-1"}, "yield_limit_min", "between 0 and 1000"),
        ({"yield_limit_max": "1000.01"}, "yield_limit_max", "between 0 and 1000"),
    ],
)
def test_yield_limits_are_checked(author, api_client_for, limits, field, words):
    body = {"title": "T", "product_name": "P", "product_code": "Y-1", **content(), **limits}
    response = api_client_for(author).post(URL, body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}: ")
    assert words in response.json()["detail"]


def test_yield_limits_at_the_bounds_are_accepted(author, api_client_for):
    body = {"title": "T", "product_name": "P", "product_code": "Y-2", **content()}
    body.update(yield_limit_min="0", yield_limit_max="1000")
    assert api_client_for(author).post(URL, body).status_code == 201


def test_quantities_keep_their_decimal_precision_as_strings(author, api_client_for):
    lines = bill_of_materials()
    lines[0]["quantity_per_unit"] = 0.1
    lines[1]["quantity_per_unit"] = "0.125000"
    lines.append({"material_code": "EXC-9", "material_name": "Talc", "quantity_per_unit": 2, "unit_of_measure": "g"})
    body = {"title": "T", "product_name": "P", "product_code": "Q-1", **content(bill_of_materials=lines)}

    response = api_client_for(author).post(URL, body)

    assert response.status_code == 201, response.json()
    quantities = [line["quantity_per_unit"] for line in response.json()["bill_of_materials"]]
    assert quantities == ["0.1", "0.125000", "2"]


def test_optional_step_keys_get_their_defaults(author, api_client_for):
    instructions = [{"step_number": 1, "instruction_text": "Clean the line."}]
    body = {
        "title": "T",
        "product_name": "P",
        "product_code": "D-1",
        **content(manufacturing_instructions=instructions),
    }
    response = api_client_for(author).post(URL, body)
    assert response.status_code == 201, response.json()
    assert response.json()["manufacturing_instructions"] == [
        {
            "step_number": 1,
            "instruction_text": "Clean the line.",
            "required_data_fields": [],
            "specifications": {},
            "requires_verification": False,
        }
    ]


def test_open_ended_and_null_limits_are_accepted(author, api_client_for):
    instructions = manufacturing_instructions()
    instructions[0]["specifications"]["blend_time"] = {"min": 9}
    instructions[2]["specifications"]["hardness"] = {"min": None, "max": 8.5}
    specs = [{"parameter": "dissolution", "min": 80, "unit": "%"}, {"parameter": "appearance"}]
    body = {"title": "T", "product_name": "P", "product_code": "L-1"}
    body.update(content(manufacturing_instructions=instructions, quality_specifications=specs))
    response = api_client_for(author).post(URL, body)
    assert response.status_code == 201, response.json()
    stored = response.json()["manufacturing_instructions"]
    assert stored[0]["specifications"] == {"blend_time": {"min": 9}}
    assert stored[2]["specifications"] == {"hardness": {"max": 8.5}}
    assert response.json()["quality_specifications"] == specs


# --- completeness at submit and approve ---------------------------------------------------


@pytest.mark.parametrize(
    ("empty", "path", "words"),
    [
        ("manufacturing_instructions", "manufacturing_instructions", "at least one instruction"),
        ("bill_of_materials", "bill_of_materials", "at least one material line"),
    ],
)
def test_submit_needs_instructions_and_materials(author, make_draft_mbr, api_client_for, empty, path, words):
    mbr = make_draft_mbr(**{empty: []})
    history = mbr.history.count()

    response = api_client_for(author).post(f"{URL}{mbr.pk}/submit/")

    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{path}: ")
    assert words in response.json()["detail"]
    mbr.refresh_from_db()
    assert mbr.status == "draft"
    assert mbr.history.count() == history


def test_submit_validates_content_stored_before_the_rules(author, make_draft_mbr, api_client_for):
    # Content written outside the API (e.g. imported) is checked again on the way to review.
    instructions = manufacturing_instructions()
    instructions[1]["step_number"] = 1
    mbr = make_draft_mbr(manufacturing_instructions=instructions)

    response = api_client_for(author).post(f"{URL}{mbr.pk}/submit/")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("manufacturing_instructions[1].step_number: ")
    mbr.refresh_from_db()
    assert mbr.status == "draft"


def test_approve_validates_the_content_again(author, qa_approver, make_draft_mbr):
    mbr = submit_mbr(make_draft_mbr(), actor=author)
    # Content changed behind the API's back after submission (legacy data, a migration...).
    mbr.bill_of_materials = []
    mbr.save(actor=author, reason="import")

    with pytest.raises(ValidationError) as refused:
        approve_mbr(mbr, actor=qa_approver, password=PASSWORD)

    assert "bill_of_materials" in refused.value.message_dict
    mbr.refresh_from_db()
    assert mbr.status == "in_review"
    assert mbr.signatures.count() == 0


def test_an_instruction_may_be_marked_optional_and_the_flag_is_kept():
    from batch_records.tests.factories import manufacturing_instructions
    from batch_records.validation import clean_manufacturing_instructions

    steps = manufacturing_instructions()
    steps[1]["optional"] = True
    cleaned = clean_manufacturing_instructions(steps)
    assert [step.get("optional") for step in cleaned] == [None, True, None]
    steps[1]["optional"] = "yes"
    with pytest.raises(ValidationError) as error:
        clean_manufacturing_instructions(steps)
    assert "manufacturing_instructions[1].optional" in error.value.message_dict
