from core.models import SignatureMeaning
from core.workflow import Transition, Workflow

from .models import DocumentStatus

WORK = "documents.services"

DOCUMENT_WORKFLOW = Workflow(
    Transition(
        "make_effective",
        sources=[DocumentStatus.DRAFT],
        target=DocumentStatus.EFFECTIVE,
        permission="documents.make_effective_document",
        signature=SignatureMeaning.APPROVED,
        work=f"{WORK}.record_effective",
        doc='draft → effective, signed "approved"; the document needs a file or a URL.',
    ),
    Transition(
        "obsolete",
        sources=[DocumentStatus.EFFECTIVE],
        target=DocumentStatus.OBSOLETE,
        permission="documents.obsolete_document",
        signature=SignatureMeaning.OBSOLETED,
        reason_required=True,
        doc='effective → obsolete, with the `reason`, signed "obsoleted".',
    ),
    # Content changes only in draft; an effective document is changed by a new one.
    editable={DocumentStatus.DRAFT: ["title", "version", "description", "file", "url", "effective_date"]},
)
