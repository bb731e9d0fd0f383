"""Demo batches for `seed_demo --batches N`: an oral-solid-dose plant at work.

Everything is made through the business services, as the users of each role would do it
through the API: authors write master batch records and QA approves them; supervisors plan
batches; operators execute steps, dispense and consume materials and use equipment;
supervisors verify; QA investigates and resolves deviations, reviews, releases, rejects and
quarantines. Every signature is a real one (password re-checked by `core.services.sign`),
given only by someone separation of duties allows. The result is a set of batches in
every status with signatures, deviations and a full audit trail.

Nothing here writes a status or a history row by hand.
"""

import math
import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from batch_records.choices import BatchDeviationStatus, BatchStatus, EquipmentUsageStatus, MBRStatus, StepStatus
from batch_records.models import BatchRecord, MasterBatchRecord
from batch_records.services import batches as batch_services
from batch_records.services import deviations as deviation_services
from batch_records.services import equipment_usage as usage_services
from batch_records.services import materials as material_services
from batch_records.services import mbr as mbr_services
from batch_records.services import review as review_services
from batch_records.services import steps as step_services
from batch_records.services import stops as stop_services
from equipment import services as equipment_services
from equipment.models import Equipment, EquipmentStatus, RecordResult
from users.roles import AUTHOR, OPERATOR, QA_APPROVER, QA_REVIEWER, RECORDS_ADMIN, VERIFIER

from .catalogue import (
    DISPENSE_OVERAGE,
    MATERIAL_PLACES,
    PRODUCTS,
    QUANTITY_PLANNED,
    STATUS_PRIORITY,
    manufacturing_instructions,
    mbr_sizes,
    status_plan,
)

# --- the demo ----------------------------------------------------------------------------


class DemoPlant:
    """The people, master batch records and equipment of the demo site, and the making of
    batches with them. `personas` maps each role to its demo user; `password_for(user)` is
    the password that user signs with."""

    def __init__(self, *, site, product_line, personas, password_for, steps_min=20, steps_max=200, seed=2026):
        self.site = site
        self.product_line = product_line
        self.people = personas
        self.password_for = password_for
        self.steps_min = steps_min
        self.steps_max = steps_max
        self.random = random.Random(seed)  # noqa: S311 — demo values, not secrets
        self.mbrs = []
        self.equipment = []

    # people

    def who(self, role):
        return self.people[role]

    def signed(self, role):
        """Keyword arguments for a service signed by the user of `role`."""
        user = self.people[role]
        return {"actor": user, "password": self.password_for(user)}

    # master data

    def prepare(self):
        self.mbrs = [self.approved_mbr(product, steps) for product, steps in self._catalogue()]
        self.equipment = self._equipment()
        return self

    def _catalogue(self):
        sizes = mbr_sizes(len(PRODUCTS), self.steps_min, self.steps_max)
        return list(zip(PRODUCTS, sizes, strict=True))

    def approved_mbr(self, product, steps):
        """The approved MBR of `product` with `steps` instructions: the one in effect when it
        already has that many, else a new version (the old one is superseded), else a first one."""
        author, approver = self.who(AUTHOR), self.signed(QA_APPROVER)
        instructions = manufacturing_instructions(steps)
        current = (
            MasterBatchRecord.objects.filter(product_code=product.code, status=MBRStatus.APPROVED)
            .order_by("-version")
            .first()
        )
        if current is not None and len(current.manufacturing_instructions) == steps:
            return current
        content = {
            "title": product.title,
            "product_name": product.name,
            "bill_of_materials": [
                {"material_code": code, "material_name": name, "quantity_per_unit": quantity, "unit_of_measure": unit}
                for code, name, quantity, unit in product.bill_of_materials
            ],
            "manufacturing_instructions": instructions,
            "quality_specifications": [
                {"parameter": "assay", "min": 95, "max": 105, "unit": "%"},
                {"parameter": "dissolution (30 min)", "min": 80, "unit": "%"},
                {"parameter": "uniformity of dosage units (AV)", "max": 15},
            ],
            "product_line": self.product_line,
            "yield_limit_min": Decimal("95.00"),
            "yield_limit_max": Decimal("101.00"),
        }
        if current is None:
            draft = mbr_services.create_mbr(actor=author, product_code=product.code, **content)
        else:
            draft = MasterBatchRecord.objects.filter(
                product_code=product.code, status__in=mbr_services.OPEN_STATUSES
            ).first() or mbr_services.create_new_mbr_version(current, actor=author)
            if draft.status == MBRStatus.IN_REVIEW:
                draft = mbr_services.return_mbr_to_draft(draft, actor=self.who(QA_REVIEWER), reason="Demo: rework")
            draft = mbr_services.update_mbr(
                draft,
                actor=author,
                reason=f"Process revised: {steps} instructions",
                manufacturing_instructions=instructions,
            )
        draft = mbr_services.submit_mbr(draft, actor=author)
        return mbr_services.approve_mbr(draft, comment="Approved for production", **approver)

    def _equipment(self):
        """The registered equipment of the site, calibrated; registered on first use."""
        admin, supervisor = self.who(RECORDS_ADMIN), self.who(VERIFIER)
        wanted = (
            ("High-shear granulator 300 L", "Granulator"),
            ("Fluid-bed dryer FBD-200", "Dryer"),
            ("Bin blender 1000 L", "Blender"),
            ("Rotary tablet press 36 stations", "Tablet press"),
            ("Analytical balance 220 g", "Balance"),
        )
        registered = {item.name: item for item in Equipment.objects.filter(site=self.site)}
        result = []
        for name, kind in wanted:
            item = registered.get(name)
            if item is None:
                item = Equipment(name=name, equipment_type=kind, site=self.site)
                item.save(actor=admin, reason="Registered for the demo plant")
            if item.calibration_overdue() and item.status != EquipmentStatus.IN_USE:
                item = equipment_services.record_calibration(
                    item,
                    actor=supervisor,
                    result=RecordResult.PASS,
                    next_due_date=timezone.localdate() + timedelta(days=365),
                    certificate=f"CAL-{item.equipment_id}-{timezone.localdate():%Y}",
                )
            result.append(item)
        return result

    # batches

    def batch_numbers(self, product_code):
        """A generator of free batch numbers for `product_code` (e.g. PCM500-26-0007)."""
        prefix = f"{product_code.replace('-', '')}-{timezone.localdate():%y}-"
        taken = set(BatchRecord.objects.filter(batch_number__startswith=prefix).values_list("batch_number", flat=True))
        sequence = 0
        while True:
            sequence += 1
            number = f"{prefix}{sequence:04d}"
            if number not in taken:
                yield number

    def make_batches(self, count, *, progress=None):
        plan = status_plan(count)
        numbers = {mbr.product_code: self.batch_numbers(mbr.product_code) for mbr in self.mbrs}
        # Executed batches cycle over the processes; a short demo executes the smaller ones
        # and plans a batch of the largest.
        by_size = sorted(self.mbrs, key=lambda mbr: len(mbr.manufacturing_instructions))
        made = []
        for index, status in enumerate(plan):
            if count <= len(STATUS_PRIORITY):
                mbr = by_size[-1] if status == BatchStatus.PENDING else by_size[index % min(2, len(by_size))]
            else:
                mbr = self.mbrs[index % len(self.mbrs)]
            batch = self.make_batch(mbr, status, next(numbers[mbr.product_code]))
            made.append(batch)
            if progress is not None:
                progress(index + 1, count, batch)
        return made

    def plan_batches(self, count, *, progress=None):
        """`count` pending batches: the production plan of the coming weeks, over every process."""
        numbers = {mbr.product_code: self.batch_numbers(mbr.product_code) for mbr in self.mbrs}
        made = []
        for index in range(count):
            mbr = self.mbrs[index % len(self.mbrs)]
            made.append(self.make_batch(mbr, BatchStatus.PENDING, next(numbers[mbr.product_code])))
            if progress is not None:
                progress(index + 1, count, made[-1])
        return made

    def make_batch(self, mbr, status, batch_number):
        """A batch of `mbr` brought to `status` the way the plant would get it there."""
        lot = f"{batch_number.split('-', 1)[1].replace('-', '')}{self.random.randint(100, 999)}"
        batch = batch_services.create_batch(
            mbr,
            actor=self.who(VERIFIER),
            batch_number=batch_number,
            lot_number=f"L{lot}",
            quantity_planned=QUANTITY_PLANNED,
            site=self.site,
            production_line="OSD line 1",
        )
        if status == BatchStatus.PENDING:
            return batch
        if status == BatchStatus.CANCELLED:
            return stop_services.cancel_batch(
                batch, reason="Customer order withdrawn before production.", **self.signed(VERIFIER)
            )
        trouble = self._trouble_for(status)
        run = BatchRun(self, batch, trouble)
        run.start()
        if status == BatchStatus.ABORTED:
            run.execute(share=0.3)
            return stop_services.abort_batch(
                run.refreshed(), reason="Granulator failure; the batch cannot be finished.", **self.signed(VERIFIER)
            )
        if status == BatchStatus.IN_PROGRESS:
            run.execute(share=self.random.uniform(0.3, 0.7))
            return run.refreshed()
        run.execute()
        run.finish()
        if status == BatchStatus.COMPLETED:
            return run.refreshed()
        if status == BatchStatus.QUARANTINED and self.random.random() < 0.5:
            return run.quarantine("Hold: customer complaint on a previous lot of the same API is being investigated.")
        run.submit_for_review()
        if status == BatchStatus.UNDER_REVIEW:
            run.work_on_deviations(settle=False)
            return run.refreshed()
        if status == BatchStatus.QUARANTINED:
            return run.quarantine("Hold pending the stability results of the API lot used.")
        if status == BatchStatus.REJECTED:
            return run.reject()
        run.work_on_deviations(settle=True)
        return run.release()

    def _trouble_for(self, status):
        """What goes wrong in a batch: rejected batches always have an out-of-spec step; others
        now and then (an excursion, a skipped step, a correction, a material outside tolerance)."""
        chance = self.random.random
        return {
            "excursion": status == BatchStatus.REJECTED or chance() < 0.3,
            "skip": chance() < 0.2,
            "correction": chance() < 0.3,
            "material_issue": chance() < 0.1,
            "yield_low": status == BatchStatus.REJECTED and chance() < 0.5,
        }


class BatchRun:
    """One batch executed by the demo plant's people, each doing only their own part."""

    def __init__(self, plant, batch, trouble):
        self.plant = plant
        self.batch = batch
        self.trouble = trouble
        self.random = plant.random

    def refreshed(self):
        return BatchRecord.objects.get(pk=self.batch.pk)

    # production

    def start(self):
        operator, supervisor = self.plant.who(OPERATOR), self.plant.who(VERIFIER)
        self.batch = batch_services.start_batch(self.batch, actor=operator)
        for material in self.batch.materials.order_by("line_number"):
            quantity = (material.quantity_required * DISPENSE_OVERAGE).quantize(MATERIAL_PLACES, ROUND_HALF_UP)
            material_services.dispense_material(
                material,
                lot_number=f"{material.material_code}-{self.random.randint(24000, 26999)}",
                quantity=quantity,
                comment="Weighed on the dispensing balance",
                **self.plant.signed(OPERATOR),
            )
            # 21 CFR 211.101(d): a second person checks each dispensed component.
            material_services.verify_material(
                material, comment="Material, lot and weight checked", **self.plant.signed(VERIFIER)
            )
        for usage in self._equipment_for_batch(operator):
            usage_services.verify_calibration(usage, actor=supervisor)
            usage_services.verify_cleaning(usage, actor=supervisor)
            usage_services.start_usage(usage, actor=operator)

    def _equipment_for_batch(self, operator):
        """A registered piece of equipment when one is free (cleaned first if needed), and a
        hand-named one (the plant's small tools are not in the register)."""
        usages = []
        free = [
            item
            for item in Equipment.objects.filter(pk__in=[item.pk for item in self.plant.equipment])
            if item.status == EquipmentStatus.AVAILABLE and not item.calibration_overdue()
        ]
        if free:
            item = self.random.choice(free)
            if not item.cleaning_valid():
                item = equipment_services.record_cleaning(
                    item, actor=operator, result=RecordResult.PASS, method="Wet clean per SOP-CLN-012"
                )
            usages.append(usage_services.add_batch_equipment(self.batch, actor=operator, equipment=item))
        usages.append(
            usage_services.add_batch_equipment(
                self.batch,
                actor=operator,
                equipment_name="Sieve 1.0 mm stainless steel",
                equipment_id_manual=f"SV-{self.random.randint(10, 99)}",
            )
        )
        return usages

    def execute(self, share=1.0):
        """Perform the steps in order (the first `share` of them), verified where required."""
        steps = list(self.batch.steps.order_by("step_number"))
        last = len(steps) if share >= 1 else max(1, math.floor(len(steps) * share))
        excursion_at = self._pick(steps[:last], lambda step: step.specifications) if self.trouble["excursion"] else None
        skip_at = (
            self._pick(steps[1:last], lambda step: not step.requires_verification) if self.trouble["skip"] else None
        )
        for step in steps[:last]:
            if step.pk == skip_at:
                step_services.skip_step(
                    step,
                    reason="Not applicable: the sample was taken at the previous check (shift change).",
                    comment="Skipped with the supervisor's agreement",
                    **self.plant.signed(VERIFIER),
                )
                continue
            step_services.start_step(step, actor=self.plant.who(OPERATOR))
            step = step_services.complete_step(
                step,
                actual_values=self._values(step, out_of_spec=step.pk == excursion_at),
                **self.plant.signed(OPERATOR),
            )
            if step.requires_verification:
                step_services.verify_step(step, **self.plant.signed(VERIFIER))
        if share < 1 and last < len(steps):
            # The operator is at work on the next step.
            step_services.start_step(steps[last], actor=self.plant.who(OPERATOR))
        if share >= 1 and self.trouble["correction"]:
            self._correct_one(steps)

    def _pick(self, steps, condition):
        candidates = [step.pk for step in steps if condition(step)]
        return self.random.choice(candidates) if candidates else None

    def _values(self, step, *, out_of_spec=False):
        values = {}
        excursion_done = False
        for field in step.required_data_fields:
            name, kind = field["name"], field["type"]
            if kind == "boolean":
                values[name] = True
            elif kind == "text":
                values[name] = {"screen_size": "1.0 mm"}.get(name, "No remarks")
            else:
                limits = step.specifications.get(name) or {}
                if out_of_spec and limits and not excursion_done:
                    values[name] = self._outside(limits)
                    excursion_done = True
                else:
                    values[name] = self._inside(limits)
        return values

    def _inside(self, limits):
        low, high = limits.get("min"), limits.get("max")
        if low is None and high is None:
            return str(self.random.randint(10, 40))
        low = Decimal(str(low)) if low is not None else Decimal(str(high)) / 4
        high = Decimal(str(high)) if high is not None else low * 2
        span = high - low
        value = low + span * Decimal(self.random.uniform(0.2, 0.8))
        return str(value.quantize(Decimal("0.01")))

    @staticmethod
    def _outside(limits):
        if limits.get("max") is not None:
            return str((Decimal(str(limits["max"])) * Decimal("1.08")).quantize(Decimal("0.01")))
        return str((Decimal(str(limits["min"])) * Decimal("0.92")).quantize(Decimal("0.01")))

    def _correct_one(self, steps):
        """A transcription error caught by the operator: a value corrected with a reason and a
        new signature; a step that needs verification is verified again."""
        candidates = [step for step in steps if step.specifications]
        if not candidates:
            return
        step = type(steps[0]).objects.get(pk=self.random.choice(candidates).pk)
        if step.status != StepStatus.COMPLETED:
            return
        values = dict(step.actual_values)
        name = next(name for name in step.specifications if name in values)
        values[name] = self._inside(step.specifications[name])
        if values == step.actual_values:
            return
        step = step_services.correct_step(
            step,
            actual_values=values,
            reason="Transcription error: value read again from the instrument printout.",
            **self.plant.signed(OPERATOR),
        )
        if step.requires_verification:
            step_services.verify_step(step, comment="Correction checked", **self.plant.signed(VERIFIER))

    def finish(self):
        """End the equipment use, reconcile the materials and complete the batch."""
        operator = self.plant.who(OPERATOR)
        for usage in self.batch.equipment.filter(status=EquipmentUsageStatus.IN_USE).order_by("pk"):
            usage_services.end_usage(usage, actor=operator)
        issue_at = self.random.choice(list(self.batch.materials.all())).pk if self.trouble["material_issue"] else None
        for material in self.batch.materials.order_by("line_number"):
            if material.pk == issue_at:
                used = material.quantity_required * Decimal("0.96")
            else:
                used = material.quantity_required * Decimal(self.random.uniform(0.995, 1.005))
            used = min(used.quantize(MATERIAL_PLACES, ROUND_HALF_UP), material.quantity_dispensed)
            material_services.consume_material(material, actor=operator, quantity_used=used)
        yield_share = Decimal("0.91") if self.trouble["yield_low"] else Decimal(self.random.uniform(0.965, 0.995))
        produced = (self.batch.quantity_planned * yield_share).quantize(Decimal("1"))
        rejected = (self.batch.quantity_planned * Decimal("0.004")).quantize(Decimal("1"))
        self.batch = batch_services.complete_batch(
            self.batch, actor=operator, quantity_produced=produced, quantity_rejected=rejected
        )

    # QA

    def submit_for_review(self):
        self.batch = review_services.submit_batch_for_review(self.batch, actor=self.plant.who(QA_REVIEWER))

    def work_on_deviations(self, *, settle):
        """QA investigates every deviation; when `settle`, resolves each with its root cause
        (QA approver, signed) and closes some of them."""
        for deviation in self.batch.deviations.order_by("created_at", "pk"):
            if deviation.status == BatchDeviationStatus.OPEN:
                deviation = deviation_services.update_batch_deviation(
                    deviation,
                    actor=self.plant.who(QA_REVIEWER),
                    impact_assessment="No impact on product quality expected; confirmed by the release tests.",
                    immediate_action="Batch held at the step; supervisor and QA informed.",
                )
                deviation = deviation_services.investigate_batch_deviation(deviation, actor=self.plant.who(QA_REVIEWER))
            if not settle:
                continue
            deviation = deviation_services.resolve_batch_deviation(
                deviation,
                root_cause="Instrument drift between two calibrations; re-measured within limits.",
                comment="Root cause confirmed",
                **self.plant.signed(QA_APPROVER),
            )
            if self.random.random() < 0.6:
                deviation_services.close_batch_deviation(
                    deviation, comment="Effectiveness confirmed", **self.plant.signed(QA_APPROVER)
                )

    def quarantine(self, reason):
        return review_services.quarantine_batch(self.batch, actor=self.plant.who(QA_REVIEWER), reason=reason)

    def reject(self):
        return review_services.reject_batch(
            self.batch,
            reason="Out-of-specification result confirmed by the investigation; the batch is not released.",
            **self.plant.signed(QA_APPROVER),
        )

    def release(self):
        review_services.record_batch_review(
            self.batch, comment="Batch record reviewed; exceptions assessed", **self.plant.signed(QA_REVIEWER)
        )
        return review_services.release_batch(
            self.batch, comment="Released for distribution", **self.plant.signed(QA_APPROVER)
        )


def demo_users_ready(personas):
    missing = [
        role for role in (AUTHOR, OPERATOR, VERIFIER, QA_REVIEWER, QA_APPROVER, RECORDS_ADMIN) if role not in personas
    ]
    if missing:
        raise ValueError(f"Demo users missing for roles: {', '.join(missing)}")


def create_demo_batches(
    count,
    *,
    site,
    product_line,
    personas,
    password_for,
    steps_min=20,
    steps_max=200,
    seed=2026,
    planned=0,
    progress=None,
):
    """`count` batches of the demo site in every status, then `planned` more pending ones,
    made through the services by `personas` (role → user), who sign with
    `password_for(user)`; returns them in the order made."""
    demo_users_ready(personas)
    plant = DemoPlant(
        site=site,
        product_line=product_line,
        personas=personas,
        password_for=password_for,
        steps_min=steps_min,
        steps_max=steps_max,
        seed=seed,
    ).prepare()
    made = plant.make_batches(count, progress=progress)
    return made + plant.plan_batches(planned, progress=progress)
