from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .choices import LotStatus

_ALL = list(LotStatus.values)

LOT_WORKFLOW = Workflow(
    # 21 CFR 211.84(a): a lot is held in quarantine until QA has tested or examined it.
    Transition(
        "release",
        sources=[LotStatus.QUARANTINE],
        target=LotStatus.RELEASED,
        permission="inventory.release_lot",
        signature=SignatureMeaning.RELEASED,
    ),
    Transition(
        "reject",
        sources=[LotStatus.QUARANTINE, LotStatus.RELEASED],
        target=LotStatus.REJECTED,
        permission="inventory.reject_lot",
        signature=SignatureMeaning.REJECTED,
        reason_required=True,
    ),
    Transition(
        "expire",
        sources=[LotStatus.QUARANTINE, LotStatus.RELEASED],
        target=LotStatus.EXPIRED,
        permission="inventory.expire_lot",
    ),
    # A stock correction (count, spillage, write-off of a rejected lot): any status.
    Transition("adjust", sources=_ALL, target=None, permission="inventory.adjust_lot", reason_required=True),
)
