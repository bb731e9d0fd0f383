"""Factories for batch records. Content mirrors a small tablet-compression process."""

from decimal import Decimal

import factory

from batch_records.models import MasterBatchRecord
from users.tests.factories import UserFactory


def bill_of_materials():
    return [
        {
            "material_code": "API-001",
            "material_name": "Paracetamol",
            "quantity_per_unit": "0.5",
            "unit_of_measure": "kg",
        },
        {"material_code": "EXC-002", "material_name": "Lactose", "quantity_per_unit": "0.25", "unit_of_measure": "kg"},
    ]


def manufacturing_instructions(steps=3):
    instructions = [
        {
            "step_number": 1,
            "instruction_text": "Dispense and blend for 10 minutes.",
            "required_data_fields": [{"name": "blend_time", "type": "number", "unit": "min"}],
            "specifications": {"blend_time": {"min": 9, "max": 11}},
            "requires_verification": True,
        },
        {
            "step_number": 2,
            "instruction_text": "Check granule appearance.",
            "required_data_fields": [
                {"name": "appearance_ok", "type": "boolean"},
                {"name": "remarks", "type": "text"},
            ],
            "specifications": {},
            "requires_verification": False,
        },
        {
            "step_number": 3,
            "instruction_text": "Compress tablets; record hardness.",
            "required_data_fields": [{"name": "hardness", "type": "number", "unit": "kP"}],
            "specifications": {"hardness": {"min": 4, "max": 8}},
            "requires_verification": True,
        },
    ]
    for number in range(4, steps + 1):
        instructions.append(
            {
                "step_number": number,
                "instruction_text": f"Process step {number}.",
                "required_data_fields": [{"name": "temperature", "type": "number", "unit": "°C"}],
                "specifications": {"temperature": {"min": 15, "max": 25}},
                "requires_verification": False,
            }
        )
    return instructions[:steps]


def quality_specifications():
    return [{"parameter": "assay", "min": 95, "max": 105, "unit": "%"}]


class MasterBatchRecordFactory(factory.django.DjangoModelFactory):
    """A draft MBR. Approve it through the services (see `approved_mbr` fixtures)."""

    class Meta:
        model = MasterBatchRecord

    title = factory.Sequence(lambda n: f"Paracetamol 500 mg tablets, process {n}")
    product_name = "Paracetamol 500 mg tablets"
    product_code = factory.Sequence(lambda n: f"PCM-{n:03d}")
    bill_of_materials = factory.LazyFunction(bill_of_materials)
    manufacturing_instructions = factory.LazyFunction(manufacturing_instructions)
    quality_specifications = factory.LazyFunction(quality_specifications)
    yield_limit_min = Decimal("95.00")
    yield_limit_max = Decimal("102.00")
    author = factory.SubFactory(UserFactory)
