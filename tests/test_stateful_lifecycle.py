"""Issue 8: a Hypothesis state machine drives batches through the API — random actions by
random personas, in random order — and after every step checks the invariants that a GMP
record must never break, whatever the API accepted or refused:

- no released batch has a deviation that is not resolved or closed;
- no step is verified by the person who performed it;
- every released batch carries a "released" signature by someone who did nothing in it;
- no request answers 5xx;
- no dead end (issue 19): in every state reached, the API offers (in `allowed_actions`)
  the documented next action towards a final disposition (released, rejected or
  cancelled), and at the end of each run that sequence of offered actions is walked until
  a final disposition is reached.
"""

from collections import Counter
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from batch_records.choices import DEVIATION_SETTLED_STATUSES, BatchStatus
from batch_records.models import BatchDeviation, BatchRecord, BatchStep
from conftest import client_for
from core.models import Signature
from users.roles import OPERATOR, QA_APPROVER, QA_REVIEWER, VERIFIER
from users.tests.factories import PASSWORD, UserFactory

API = "/api/batch_records"
ROLE_OF = {
    "op1": OPERATOR,
    "op2": OPERATOR,
    "ver": VERIFIER,
    "rev": QA_REVIEWER,
    "qa1": QA_APPROVER,
    "qa2": QA_APPROVER,
}


FINAL = {BatchStatus.RELEASED, BatchStatus.REJECTED, BatchStatus.CANCELLED}
# From each status that is not final, the documented way out (who, action, body).
REJECT = ("qa2", "reject", {"reason": "disposition", "password": PASSWORD})
RECOVERY = {
    BatchStatus.PENDING: ("ver", "cancel", {"reason": "will not be made", "password": PASSWORD}),
    BatchStatus.IN_PROGRESS: ("ver", "abort", {"reason": "cannot be finished", "password": PASSWORD}),
    BatchStatus.COMPLETED: ("rev", "submit_for_review", {}),
    BatchStatus.UNDER_REVIEW: REJECT,
    BatchStatus.QUARANTINED: REJECT,
    BatchStatus.ABORTED: REJECT,
}


def build_state_machine(site, mbr, reached):
    personas = {}
    for name, role in ROLE_OF.items():
        user = UserFactory(username=f"sm_{name}")
        user.groups.add(Group.objects.get(name=role))
        user.sites.add(site)
        personas[name] = client_for(user)
    counter = iter(range(1, 10**6))

    class BatchLifecycle(RuleBasedStateMachine):
        @initialize()
        def create_batch(self):
            number = next(counter)
            response = personas["ver"].post(
                f"{API}/batch-records/",
                {
                    "mbr": mbr.pk,
                    "batch_number": f"SM-{number}",
                    "lot_number": f"SML-{number}",
                    "quantity_planned": "100",
                    "site": site.pk,
                },
            )
            assert response.status_code == 201, response.content
            self.batch_id = response.json()["id"]

        def _post(self, who, path, body=None):
            cache.clear()  # throttles are not what this machine tests
            response = personas[who].post(path, body or {}, format="json")
            assert response.status_code < 500, (path, response.status_code, response.content[:500])
            return response

        def _steps(self):
            return list(BatchStep.objects.filter(batch_id=self.batch_id).order_by("step_number"))

        @rule(who=st.sampled_from(["op1", "op2", "ver"]))
        def start_batch(self, who):
            self._post(who, f"{API}/batch-records/{self.batch_id}/start/")

        @rule(who=st.sampled_from(["op1", "op2"]), index=st.integers(0, 2))
        def start_step(self, who, index):
            steps = self._steps()
            self._post(who, f"{API}/batch-steps/{steps[index].pk}/start/")

        @rule(
            who=st.sampled_from(["op1", "op2"]),
            index=st.integers(0, 2),
            value=st.sampled_from(["10", "9", "11", "3", "12", "5"]),
        )
        def complete_step(self, who, index, value):
            step = self._steps()[index]
            values = {}
            for field in step.required_data_fields:
                values[field["name"]] = {"number": value, "boolean": True, "text": "ok"}[field["type"]]
            self._post(who, f"{API}/batch-steps/{step.pk}/complete/", {"actual_values": values, "password": PASSWORD})

        @rule(who=st.sampled_from(["op1", "op2", "ver", "qa1"]), index=st.integers(0, 2))
        def verify_step(self, who, index):
            step = self._steps()[index]
            self._post(who, f"{API}/batch-steps/{step.pk}/verify/", {"password": PASSWORD})

        @rule(who=st.sampled_from(["ver", "op1"]), index=st.integers(0, 2))
        def skip_step(self, who, index):
            step = self._steps()[index]
            self._post(who, f"{API}/batch-steps/{step.pk}/skip/", {"reason": "not needed", "password": PASSWORD})

        @rule(who=st.sampled_from(["op1", "ver"]), produced=st.sampled_from(["99", "100", "50"]))
        def complete_batch(self, who, produced):
            self._post(
                who,
                f"{API}/batch-records/{self.batch_id}/complete/",
                {"quantity_produced": produced, "quantity_rejected": "1"},
            )

        @rule(who=st.sampled_from(["rev", "qa1"]))
        def work_on_deviations(self, who):
            for deviation in BatchDeviation.objects.filter(batch_id=self.batch_id):
                path = f"{API}/batch-deviations/{deviation.pk}"
                self._post(who, f"{path}/investigate/")
                self._post(who, f"{path}/resolve/", {"root_cause": "operator error", "password": PASSWORD})
                self._post(who, f"{path}/close/", {"password": PASSWORD})

        @rule(who=st.sampled_from(["op1", "ver"]))
        def settle_materials(self, who):
            from batch_records.models import BatchMaterial

            for material in BatchMaterial.objects.filter(batch_id=self.batch_id):
                path = f"{API}/batch-materials/{material.pk}"
                self._post(
                    "op1",
                    f"{path}/dispense/",
                    {"lot_number": "LOT-1", "quantity": str(material.quantity_required), "password": PASSWORD},
                )
                self._post("ver", f"{path}/verify/", {"password": PASSWORD})
                self._post(who, f"{path}/consume/", {"quantity_used": str(material.quantity_required)})

        @rule()
        def drive_to_review(self):
            """The whole proper path in one rule, so that release candidates are common."""
            self.start_batch("op1")
            for index, step in enumerate(self._steps()):
                self.start_step("op1", index)
                self.complete_step("op1", index, "10")
                if step.requires_verification:
                    self.verify_step("ver", index)
            self.settle_materials("op1")
            self.complete_batch("op1", "100")
            self.work_on_deviations("qa1")
            self.submit_for_review("rev")

        @rule(who=st.sampled_from(["rev", "qa1"]))
        def submit_for_review(self, who):
            self._post(who, f"{API}/batch-records/{self.batch_id}/submit_for_review/")

        @rule(who=st.sampled_from(["qa1", "qa2", "rev", "op1"]))
        def release(self, who):
            self._post(who, f"{API}/batch-records/{self.batch_id}/release/", {"password": PASSWORD})

        @rule(who=st.sampled_from(["rev", "qa1"]))
        def quarantine(self, who):
            self._post(who, f"{API}/batch-records/{self.batch_id}/quarantine/", {"reason": "investigate"})

        @rule()
        def return_to_review(self):
            self._post("qa1", f"{API}/batch-records/{self.batch_id}/return_to_review/", {"reason": "cleared"})

        @rule(who=st.sampled_from(["ver", "qa1", "op1"]))
        def cancel(self, who):
            self._post(
                who, f"{API}/batch-records/{self.batch_id}/cancel/", {"reason": "not needed", "password": PASSWORD}
            )

        @rule(who=st.sampled_from(["ver", "qa1", "op1"]))
        def abort(self, who):
            self._post(
                who, f"{API}/batch-records/{self.batch_id}/abort/", {"reason": "cannot finish", "password": PASSWORD}
            )

        @rule()
        def reject(self):
            self._post("qa2", f"{API}/batch-records/{self.batch_id}/reject/", {"reason": "bad", "password": PASSWORD})

        def teardown(self):
            reached[BatchRecord.objects.get(pk=self.batch_id).status] += 1
            # The end state is walked to a final disposition for real (no dead end).
            walked = []
            status = self._walk_to_disposition(walked)
            assert status in FINAL, (walked, status)

        @invariant()
        def the_way_out_is_always_offered(self):
            """From every state reached, the documented way towards a final disposition is
            among the actions the API offers its actor now (issue 19: no dead end)."""
            status = BatchRecord.objects.get(pk=self.batch_id).status
            if status in FINAL:
                return
            who, action, _ = RECOVERY[status]
            offered = personas[who].get(f"{API}/batch-records/{self.batch_id}/").json()["allowed_actions"]
            assert action in offered, (status, who, action, offered)

        def _walk_to_disposition(self, walked):
            for _ in range(len(RECOVERY) + 1):
                status = BatchRecord.objects.get(pk=self.batch_id).status
                if status in FINAL:
                    return status
                who, action, body = RECOVERY[status]
                offered = personas[who].get(f"{API}/batch-records/{self.batch_id}/").json()["allowed_actions"]
                assert action in offered, (status, who, action, offered, walked)
                response = self._post(who, f"{API}/batch-records/{self.batch_id}/{action}/", body)
                assert response.status_code == 200, (status, action, response.json(), walked)
                walked.append((status, action))
            return BatchRecord.objects.get(pk=self.batch_id).status

        @invariant()
        def no_released_batch_with_unsettled_deviations(self):
            unsettled = BatchDeviation.objects.filter(batch__status=BatchStatus.RELEASED).exclude(
                status__in=DEVIATION_SETTLED_STATUSES
            )
            assert not unsettled.exists()

        @invariant()
        def no_step_verified_by_its_operator(self):
            for step in BatchStep.objects.exclude(verifier=None):
                assert step.verifier_id != step.operator_id

        @invariant()
        def released_batches_are_signed_by_an_independent_approver(self):
            for batch in BatchRecord.objects.filter(status=BatchStatus.RELEASED):
                releases = Signature.objects.filter(
                    content_type__model="batchrecord", object_id=batch.pk, meaning="released"
                )
                assert releases.count() == 1
                releaser = releases.get().signer_id
                steps = BatchStep.objects.filter(batch=batch)
                assert not steps.filter(operator_id=releaser).exists()
                assert not steps.filter(verifier_id=releaser).exists()
                assert batch.quantity_produced is not None
                assert batch.quantity_produced >= Decimal(0)

    return BatchLifecycle


@pytest.mark.django_db
def test_batch_lifecycle_invariants_hold_under_random_api_use(site, make_approved_mbr, capsys):
    reached = Counter()
    machine = build_state_machine(site, make_approved_mbr(), reached)
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=30,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        ),
    )
    with capsys.disabled():
        print(f"\nstate machine: final batch statuses {dict(reached)}")
    # The run must reach the states whose invariants matter, not only refusals.
    assert reached[BatchStatus.RELEASED] > 0
    assert sum(reached.values()) >= 10
