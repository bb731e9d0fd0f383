from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import DocumentStatus

DOCUMENT_WORKFLOW = Workflow(
    Transition(
        "make_effective",
        sources=[DocumentStatus.DRAFT],
        target=DocumentStatus.EFFECTIVE,
        permission="documents.make_effective_document",
        signature=SignatureMeaning.APPROVED,
    ),
    Transition(
        "obsolete",
        sources=[DocumentStatus.EFFECTIVE],
        target=DocumentStatus.OBSOLETE,
        permission="documents.obsolete_document",
        signature=SignatureMeaning.OBSOLETED,
        reason_required=True,
    ),
)
